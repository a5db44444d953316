"""Automatic logging from the libraries a script already calls (``auto_connect_frameworks``).

A hook patches a library once per process: at ``Task.init`` when the library is already
imported, otherwise the moment the script imports it (a finder on ``sys.meta_path`` watches
only the module names in ``HOOKS``). A patched call always does the library's own work first
and returns its result; the Arno part runs only while a task is current and has the framework
enabled (``active``), and a failure in it is logged, never raised into the user's call.

Modules here, each owning its libraries:
- ``models``: framework saves registered as output models (torch, joblib, pickle, Keras,
  XGBoost, LightGBM, CatBoost, ONNX), uploaded on one background thread, waited for at close;
- ``plots``: matplotlib figures shown or saved become plots;
- ``tensorboard``: ``SummaryWriter`` calls mirrored into the task (torch and tensorboardX);
- ``config_libs``: Hydra/OmegaConf, click, jsonargparse and environment selections;
- ``notebook``: a Jupyter notebook stored as the task's script.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arno.sdk._task import Task

log = logging.getLogger("arno.frameworks")

HOOKS: dict[str, list[tuple[str, str]]] = {
    # module name -> [(framework key of auto_connect_frameworks, "module:function")]
    "torch": [("pytorch", "models:patch_torch")],
    "torch.utils.tensorboard": [("tensorboard", "tensorboard:patch_torch_writer")],
    "tensorboardX": [("tensorboardx", "tensorboard:patch_tensorboardx")],
    "joblib": [("joblib", "models:patch_joblib")],
    "pickle": [("pickle", "models:patch_pickle")],
    "matplotlib.pyplot": [("matplotlib", "plots:patch_matplotlib")],
    "xgboost": [("xgboost", "models:patch_xgboost")],
    "lightgbm": [("lightgbm", "models:patch_lightgbm")],
    "catboost": [("catboost", "models:patch_catboost")],
    "onnx": [("onnx", "models:patch_onnx")],
    "keras": [("keras", "models:patch_keras")],
    "hydra": [("hydra", "config_libs:patch_hydra")],
    "click": [("click", "config_libs:patch_click")],
    "jsonargparse": [("jsonargparse", "config_libs:patch_jsonargparse")],
    "dotenv": [("dotenv", "config_libs:patch_dotenv")],
}
"""What to patch when a module is imported. A function takes the imported module."""

_lock = threading.RLock()
_patched: set[str] = set()
_closers: list[Callable[[Task], None]] = []
_finder: _ImportWatch | None = None


def active(framework: str) -> Task | None:
    """The current task when it is running here and lets Arno hook ``framework``."""
    from arno.sdk._task import Task

    task = Task._current
    if task is None or task._closed or not task.framework_enabled(framework):
        return None
    return task


def guarded(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an Arno-side step of a hook; a failure is a warning, never the user's error."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's call must not fail because of Arno
        log.warning("arno: %s was not recorded: %s", what, exc)
        return None


def on_close(closer: Callable[[Task], None]) -> None:
    """Have ``closer(task)`` run when a task closes (e.g. to wait for background uploads)."""
    with _lock:
        if closer not in _closers:
            _closers.append(closer)


def task_closing(task: Task) -> None:
    """Called by ``Task.close`` before the reporter stops."""
    for closer in list(_closers):
        guarded("the end of an automatic capture", closer, task)


def install() -> None:
    """Patch what is imported already and watch for the rest (idempotent)."""
    global _finder
    with _lock:
        if _finder is None:
            _finder = _ImportWatch()
            sys.meta_path.insert(0, _finder)
        for name in HOOKS:
            module = sys.modules.get(name)
            if module is not None:
                _apply(name, module)


def _apply(name: str, module: ModuleType) -> None:
    with _lock:
        if name in _patched:
            return
        _patched.add(name)
    for framework, target in HOOKS[name]:
        mod_name, func_name = target.split(":")
        try:
            patch = getattr(importlib.import_module(f"{__name__}.{mod_name}"), func_name)
            patch(module)
        except Exception as exc:  # noqa: BLE001 - a library version we cannot patch
            log.warning("arno: automatic logging for %s is off: %s", framework, exc)


class _ImportWatch(importlib.abc.MetaPathFinder):
    """Runs the hooks of a watched module right after the module itself has run."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in HOOKS or fullname in _patched:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        real_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            real_exec(module)
            _apply(fullname, module)

        try:
            loader.exec_module = exec_module  # type: ignore[method-assign]
        except (AttributeError, TypeError):
            return spec
        return spec

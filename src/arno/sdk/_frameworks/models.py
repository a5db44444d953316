"""Model files a framework saves, registered as output models of the running task.

``torch.save``, ``joblib.dump``, ``pickle.dump`` to a file, XGBoost/LightGBM/CatBoost
``save_model``, ``onnx.save`` and Keras ``Model.save`` first do their own work; then the saved
file is queued for the one uploader thread and the call returns. One model per file name
(named as the file, with the framework recorded), its weights updated at each save with the
iteration of the reporting context. Saves of a file that is still waiting coalesce: only the
latest bytes go. With ``ARNO_MODEL_SNAPSHOTS`` = N > 1 each save at a new iteration is also a
model of its own, ``"<file> (iteration K)"`` tagged ``snapshot``; the last N are kept.
``Task.close`` waits (bounded) for what is queued. The user's file is never deleted.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arno.sdk._frameworks import active, guarded, log, on_close

if TYPE_CHECKING:
    from arno.sdk._task import Task

FRAMEWORK_NAMES = {
    "pytorch": "PyTorch", "joblib": "Joblib", "pickle": "Pickle", "xgboost": "XGBoost",
    "lightgbm": "LightGBM", "catboost": "CatBoost", "onnx": "ONNX", "keras": "Keras",
}
"""``auto_connect_frameworks`` key -> the framework recorded on the model."""

SNAPSHOT_TAG = "snapshot"
CLOSE_WAIT = 60.0
"""Seconds ``Task.close`` waits for queued model uploads."""

_depth = threading.local()
"""How deep the current thread is in patched saves (a save calling another records once)."""


# ---- the reporting context -------------------------------------------------------------------
def reporting_iteration(task: Task) -> int | None:
    """The highest iteration the task's reporter has seen (reported or pending), or None."""
    reporter = task._reporter
    if reporter is None:
        return None
    _track_iterations()
    best: int | None = reporter.__dict__.get("_arno_seen")
    if reporter._last_iteration is not None:
        best = _top(best, reporter._last_iteration)
    with reporter._lock:
        best = _top_of(best, reporter._series, reporter._other)
    return best


def _top(a: int | None, b: Any) -> int | None:
    if b is None:
        return a
    return int(b) if a is None or int(b) > a else a


def _top_of(best: int | None, series: dict[Any, Any], other: dict[str, list[Any]]) -> int | None:
    for its, _values, _stamps in series.values():
        if its:
            best = _top(best, max(its))
    for kind in ("plots", "debug_samples"):
        for item in other.get(kind, ()):
            best = _top(best, item.get("iteration"))
    return best


_tracking = False


def _track_iterations() -> None:
    """Have the reporter remember the highest iteration of what its thread takes to send.

    The reporter drops what it sent; this keeps the one number a save needs, on the sender's
    thread (the training loop's calls are not wrapped)."""
    global _tracking
    if _tracking:
        return
    from arno.client._reporter import Reporter

    _tracking = True
    take = Reporter._take

    @functools.wraps(take)
    def _take(self: Reporter) -> Any:
        series, other = take(self)
        try:
            seen = _top_of(self.__dict__.get("_arno_seen"), series, other)
            if seen is not None:
                self.__dict__["_arno_seen"] = seen
        except Exception:  # noqa: BLE001, S110 - a count must never stop the sender
            pass
        return series, other

    Reporter._take = _take  # type: ignore[method-assign]


# ---- uploads -----------------------------------------------------------------------------------
@dataclass
class Save:
    """A file a framework wrote, waiting for the uploader."""

    task: Task
    framework: str
    """The framework as recorded on the model ("PyTorch" ...)."""
    path: Path
    iteration: int | None
    snapshots: int = 1
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class _FileModels:
    """The models of one file name of one task."""

    model: Any = None
    snapshots: OrderedDict[int, Any] = field(default_factory=OrderedDict)


_models: dict[tuple[str, str], _FileModels] = {}


def _model_api() -> Any:
    """``OutputModel`` and ``Model`` (a function, so tests can stand in for the server)."""
    from arno.sdk import _model

    return _model


def send(save: Save) -> None:
    """Upload one save: the file's model updated in place, plus its snapshot when kept."""
    if not save.path.is_file():
        log.warning("arno: model file %s was removed before its upload; not recorded",
                    save.path)
        return
    api = _model_api()
    state = _models.setdefault((save.task.id, save.name), _FileModels())
    if state.model is None:
        state.model = api.OutputModel(task=save.task, name=save.name, framework=save.framework)
    state.model.update_weights(weights_filename=str(save.path), iteration=save.iteration,
                               auto_delete_file=False)
    if save.snapshots <= 1:
        return
    k = int(save.iteration or 0)
    snap = state.snapshots.pop(k, None)
    if snap is None:
        snap = api.OutputModel(task=save.task, name=f"{save.name} (iteration {k})",
                               framework=save.framework, tags=[SNAPSHOT_TAG])
    snap.update_weights(weights_filename=str(save.path), iteration=save.iteration,
                        auto_delete_file=False)
    state.snapshots[k] = snap
    while len(state.snapshots) > save.snapshots:
        _k, old = state.snapshots.popitem(last=False)
        guarded(f"removing the old snapshot of {save.name}", api.Model.remove, old.id,
                delete_weights_file=False, force=True)


class Uploader:
    """One background thread sending queued saves in order; a file queued again before its
    turn keeps its place and takes the newest save."""

    def __init__(self, sender: Callable[[Save], None]) -> None:
        self._send = sender
        self._cond = threading.Condition()
        self._queue: OrderedDict[tuple[str, str], Save] = OrderedDict()
        self._running: Save | None = None
        self._thread: threading.Thread | None = None

    def submit(self, save: Save) -> None:
        with self._cond:
            self._queue[(save.task.id, save.name)] = save
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="arno-model-upload",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                _key, save = self._queue.popitem(last=False)
                self._running = save
            try:
                guarded(f"model {save.name}", self._send, save)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def pending(self, task_id: str) -> list[str]:
        with self._cond:
            names = [s.name for (tid, _n), s in self._queue.items() if tid == task_id]
            if self._running is not None and self._running.task.id == task_id:
                names.insert(0, self._running.name)
            return names

    def wait(self, task_id: str, timeout: float) -> list[str]:
        """Wait until nothing of the task is queued or sending; what is left is dropped and
        its names returned."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.pending(task_id):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
            left_over = self.pending(task_id)
            for key in [k for k in self._queue if k[0] == task_id]:
                del self._queue[key]
            return left_over


uploader = Uploader(lambda save: send(save))


def _closing(task: Task) -> None:
    left = uploader.wait(task.id, CLOSE_WAIT)
    if left:
        log.warning("arno: %d model upload(s) did not finish within %.0f s: %s", len(left),
                    CLOSE_WAIT, ", ".join(left))
    for key in [k for k in _models if k[0] == task.id]:
        del _models[key]


on_close(_closing)


def _before_exit() -> None:
    """At interpreter exit, before the thread pools the upload uses refuse work (the task's
    own close runs later, from ``atexit``): let what is queued go, bounded."""
    from arno.sdk._task import Task

    task = Task._current
    if task is not None and uploader.pending(task.id):
        _closing(task)


def _register_before_exit() -> None:
    import concurrent.futures.thread  # noqa: F401 - its exit hook must be registered first

    register = getattr(threading, "_register_atexit", None)
    if register is not None:  # runs in reverse order: before the pools shut down
        register(_before_exit)


_register_before_exit()


def record(framework: str, target: Any) -> None:
    """Queue the file ``target`` names (a path or a file opened for writing) as a model save
    of the current task, if it enables ``framework``."""
    task = active(framework)
    if task is None:
        return
    path = _path_of(target)
    if path is None:
        return
    from arno.sdk._context import config

    uploader.submit(Save(task, FRAMEWORK_NAMES[framework], path.resolve(),
                         reporting_iteration(task), snapshots=config().model_snapshots))


def _path_of(target: Any) -> Path | None:
    if isinstance(target, str | os.PathLike):
        path = Path(os.fsdecode(target))
        return path if path.is_file() else None
    name = getattr(target, "name", None)
    mode = str(getattr(target, "mode", ""))
    if not isinstance(name, str | os.PathLike) or not any(c in mode for c in "wax+"):
        return None  # an in-memory buffer, a socket, a descriptor without a path
    flush = getattr(target, "flush", None)
    if callable(flush):
        flush()  # the bytes written so far are what the uploader reads
    path = Path(os.fsdecode(name))
    return path if path.is_file() else None


def _wrap(framework: str, fn: Callable[..., Any], where: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` doing its work, then recording the file ``where(*args, **kwargs)`` names."""
    if getattr(fn, "__arno_patched__", False):
        return fn

    @functools.wraps(fn)
    def saved(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "n", 0)
        _depth.n = depth + 1
        try:
            result = fn(*args, **kwargs)
        finally:
            _depth.n = depth
        if depth == 0:
            guarded(f"the {FRAMEWORK_NAMES[framework]} model save", _record_from, framework,
                    where, args, kwargs)
        return result

    saved.__arno_patched__ = True  # type: ignore[attr-defined]
    return saved


def _record_from(framework: str, where: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
    if active(framework) is None:
        return
    record(framework, where(*args, **kwargs))


def _arg(position: int, *names: str) -> Callable[..., Any]:
    """Picks the argument at ``position`` (or given as one of ``names``) of a call."""

    def pick(*args: Any, **kwargs: Any) -> Any:
        for name in names:
            if name in kwargs:
                return kwargs[name]
        return args[position] if len(args) > position else None

    return pick


def _patch_method(cls: Any, method: str, framework: str, where: Callable[..., Any]) -> None:
    setattr(cls, method, _wrap(framework, getattr(cls, method), where))


# ---- the libraries -------------------------------------------------------------------------------
def patch_torch(module: Any) -> None:
    """``torch.save(obj, f)``."""
    _track_iterations()
    module.save = _wrap("pytorch", module.save, _arg(1, "f"))


def patch_joblib(module: Any) -> None:
    """``joblib.dump(value, filename)``."""
    _track_iterations()
    module.dump = _wrap("joblib", module.dump, _arg(1, "filename"))


def patch_pickle(module: Any) -> None:
    """``pickle.dump(obj, file)`` to a file opened for writing (``pickle.dumps`` and in-memory
    files are not model saves)."""
    _track_iterations()
    module.dump = _wrap("pickle", module.dump, _arg(1, "file"))


def patch_xgboost(module: Any) -> None:
    """``Booster.save_model(fname)`` and the scikit-learn wrappers' ``save_model(fname)``."""
    _track_iterations()
    _patch_method(module.Booster, "save_model", "xgboost", _arg(1, "fname"))
    sklearn = getattr(module, "sklearn", None)
    if sklearn is not None and hasattr(sklearn, "XGBModel"):
        _patch_method(sklearn.XGBModel, "save_model", "xgboost", _arg(1, "fname"))


def patch_lightgbm(module: Any) -> None:
    """``Booster.save_model(filename)``."""
    _track_iterations()
    _patch_method(module.Booster, "save_model", "lightgbm", _arg(1, "filename"))


def patch_catboost(module: Any) -> None:
    """``CatBoost.save_model(fname)`` (the classifier and regressor inherit it)."""
    _track_iterations()
    _patch_method(module.CatBoost, "save_model", "catboost", _arg(1, "fname"))


def patch_onnx(module: Any) -> None:
    """``onnx.save`` / ``onnx.save_model(proto, f)`` (one function under two names)."""
    _track_iterations()
    original = module.save_model
    wrapped = _wrap("onnx", original, _arg(1, "f"))
    module.save_model = wrapped
    if getattr(module, "save", None) is original:
        module.save = wrapped
    elif callable(getattr(module, "save", None)):
        module.save = _wrap("onnx", module.save, _arg(1, "f"))


def patch_keras(module: Any) -> None:
    """``keras.Model.save(filepath)`` (a model saved as a directory is not recorded)."""
    _track_iterations()
    _patch_method(module.Model, "save", "keras", _arg(1, "filepath"))

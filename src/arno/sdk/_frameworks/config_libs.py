"""Configuration libraries: what a script is configured with lands in the task's parameters and
configuration, and under an agent the server's values win (as for argparse).

- Hydra (``hydra``): the composed config as configuration "OmegaConf" (YAML), the command-line
  overrides as section "Hydra"; under an agent each "Hydra/<key>" is applied to the config
  before the script's function reads it.
- click (``click``): each command's parameters in section "Args" (a sub-command's as
  "Args/<command>/<name>"); under an agent the server's values replace the parsed ones.
- jsonargparse (``jsonargparse``): the parsed values in section "Args" (nested keys dotted);
  under an agent the server's values are parsed again as ``--key=value``.
- python-dotenv (``dotenv``): the names a ``load_dotenv`` set, in section "Environment", values
  of secret-looking names (``*KEY*``, ``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``) redacted;
  under an agent the server's (unredacted) values go into ``os.environ``.

Hooks are patched at ``Task.init`` or when the library is imported after it. A library used
from inside the script's function before ``Task.init`` (the usual Hydra and click layout) is
caught up at that ``Task.init`` from its running state. Values seen while no task exists yet
are kept and recorded by ``task_started`` (or, at the latest, when the task closes).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arno.sdk._frameworks import active, guarded, on_close
from arno.sdk._params import to_text

if TYPE_CHECKING:
    from arno.sdk._task import Task

log = logging.getLogger("arno.frameworks")

HYDRA_SECTION = "Hydra"
HYDRA_CONFIGURATION = "OmegaConf"
ARGS_SECTION = "Args"
ENV_SECTION = "Environment"
REDACTED = "<redacted>"
SECRET_MARKS = ("KEY", "SECRET", "TOKEN", "PASSWORD")

_lock = threading.Lock()
_pending: list[tuple[str, Callable[[Task], None]]] = []


# ---- shared ---------------------------------------------------------------------------------


def _starting_task(framework: str) -> Task | None:
    """The current task, or the one ``Task.init`` is starting further up this stack (hooks
    are installed from inside ``Task.init``, before the task becomes current)."""
    task = active(framework)
    if task is not None:
        return task
    from arno.sdk._task import Task

    code = Task._start.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            found = frame.f_locals.get("self")
            if isinstance(found, Task) and not found._closed:
                return found if found.framework_enabled(framework) else None
            return None
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _record(framework: str, what: str, fn: Callable[[Task], None]) -> None:
    """Record now into the task, or once one starts."""
    task = _starting_task(framework)
    if task is not None:
        guarded(what, fn, task)
        return
    with _lock:
        _pending.append((framework, fn))


def task_started(task: Task) -> None:
    """Record what was seen before ``task`` existed (call it when a task becomes current)."""
    with _lock:
        waiting = list(_pending)
        _pending.clear()
    for framework, fn in waiting:
        if task.framework_enabled(framework):
            guarded(f"{framework} values", fn, task)


on_close(task_started)


def _remote(framework: str, section: str) -> dict[str, str] | None:
    """Under an agent, the server's ``section`` values ({name: text}); else None."""
    task = _starting_task(framework)
    values: dict[str, str] | None = None
    if task is not None:
        if task._parameters.remote is None:
            return None
        values = task._parameters.remote
    else:
        from arno.sdk import _context

        task_id = _context.config().task_id
        if not task_id:
            return None
        from arno.client._tasks import TaskClient

        rows = TaskClient(_context.session()).params(task_id)
        values = {f"{p['section']}/{p['name']}": p["value"] for p in rows}
    prefix = f"{section}/"
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return value
    return str(value)


def _set_params(section: str, values: dict[str, Any]) -> Callable[[Task], None]:
    def write(task: Task) -> None:
        if values:
            task.set_parameters({f"{section}/{k}": _plain(v) for k, v in values.items()})

    return write


# ---- Hydra ----------------------------------------------------------------------------------


def patch_hydra(module: Any) -> None:
    import hydra._internal.hydra as internal
    import hydra.core.utils as utils

    original = utils.run_job
    if getattr(original, "_arno", False):
        return

    @functools.wraps(original)
    def run_job(*args: Any, **kwargs: Any) -> Any:
        if "task_function" in kwargs:
            kwargs["task_function"] = _hydra_task(kwargs["task_function"])
        elif args:
            args = (_hydra_task(args[0]), *args[1:])
        return original(*args, **kwargs)

    run_job._arno = True  # type: ignore[attr-defined]
    utils.run_job = run_job
    if getattr(internal, "run_job", None) is original:
        internal.run_job = run_job  # type: ignore[attr-defined]
    guarded("the running Hydra job", _hydra_catch_up)


def _hydra_task(task_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(task_function)
    def job(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        guarded("the Hydra configuration", _hydra_connect, cfg)
        return task_function(cfg, *args, **kwargs)

    return job


def _hydra_catch_up() -> None:
    """``Task.init`` inside the Hydra function: find the job's config up the stack."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "run_job" and "task_cfg" in frame.f_locals:
            _hydra_connect(frame.f_locals["task_cfg"])
            return
        frame = frame.f_back  # type: ignore[assignment]


def _override_name(override: str) -> tuple[str, str] | None:
    key, sep, value = override.partition("=")
    key = key.lstrip("+")
    if not sep or not key or key.startswith("~"):
        return None
    return key, value


def _hydra_connect(cfg: Any) -> None:
    import yaml
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict, read_write

    overrides: dict[str, Any] = {}
    if HydraConfig.initialized():
        for text in HydraConfig.get().overrides.task:
            pair = _override_name(str(text))
            if pair is not None:
                overrides[pair[0]] = yaml.safe_load(pair[1]) if pair[1] else ""
    remote = _remote("hydra", HYDRA_SECTION)
    if remote:
        with read_write(cfg), open_dict(cfg):
            for key, text in remote.items():
                value = yaml.safe_load(text) if text else ""
                OmegaConf.update(cfg, key, value, merge=True, force_add=True)
                overrides[key] = value
    config_text = OmegaConf.to_yaml(cfg)
    write_params = _set_params(HYDRA_SECTION, overrides)

    def write(task: Task) -> None:
        task.set_configuration_object(HYDRA_CONFIGURATION, config_text=config_text,
                                      config_type="yaml")
        write_params(task)

    _record("hydra", "the Hydra configuration", write)


# ---- click ----------------------------------------------------------------------------------


def patch_click(module: Any) -> None:
    command = module.core.Command
    original = command.invoke
    if getattr(original, "_arno", False):
        return

    @functools.wraps(original)
    def invoke(self: Any, ctx: Any) -> Any:
        guarded("the click parameters", _click_params, self, ctx, True)
        return original(self, ctx)

    invoke._arno = True  # type: ignore[attr-defined]
    command.invoke = invoke
    guarded("the running click command", _click_catch_up, module)


def _click_prefix(ctx: Any) -> str:
    names = []
    while ctx.parent is not None:
        names.append(str(ctx.info_name))
        ctx = ctx.parent
    return "/".join(reversed(names)) + "/" if names else ""


def _click_params(command: Any, ctx: Any, apply: bool) -> None:
    if ctx.meta.get("arno.recorded"):
        return
    ctx.meta["arno.recorded"] = True
    prefix = _click_prefix(ctx)
    remote = _remote("click", ARGS_SECTION) if apply else None
    for param in command.params:
        name = param.name
        if not name or name not in ctx.params or not remote:
            continue
        text = remote.get(prefix + name)
        if text is None or text == to_text(_plain(ctx.params[name])):
            continue
        try:
            ctx.params[name] = _click_cast(param, ctx, text)
        except Exception as exc:  # noqa: BLE001 - keep the parsed value
            log.warning("arno: cannot use %r for click parameter %r: %s", text, name, exc)
    values = {prefix + p.name: ctx.params[p.name] for p in command.params
              if p.name and p.name in ctx.params}
    _record("click", "the click parameters", _set_params(ARGS_SECTION, values))


def _click_cast(param: Any, ctx: Any, text: str) -> Any:
    from arno.sdk._argparse import _split_list

    if text.strip() in ("", "None") and param.default is None:
        return None
    value: Any = text
    if param.multiple or (param.nargs != 1):
        value = _split_list(text)
    return param.type_cast_value(ctx, value)


def _click_catch_up(module: Any) -> None:
    """``Task.init`` inside a click command: record the contexts running now."""
    ctx = module.get_current_context(silent=True)
    chain = []
    while ctx is not None:
        chain.append(ctx)
        ctx = ctx.parent
    for one in reversed(chain):
        _click_params(one.command, one, False)


# ---- jsonargparse ---------------------------------------------------------------------------


def patch_jsonargparse(module: Any) -> None:
    parser_cls = module.ArgumentParser
    original = parser_cls.parse_args
    if getattr(original, "_arno", False):
        return

    @functools.wraps(original)
    def parse_args(self: Any, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        cfg = original(self, args, *rest, **kwargs)
        if getattr(_depth, "value", 0):
            return cfg
        _depth.value = 1
        try:
            again = guarded("the jsonargparse overrides", _jsonargparse_overrides, cfg, args)
            if again is not None:
                cfg = original(self, again, *rest, **kwargs)
        finally:
            _depth.value = 0
        guarded("the jsonargparse values", _jsonargparse_record, cfg)
        return cfg

    parse_args._arno = True  # type: ignore[attr-defined]
    parser_cls.parse_args = parse_args


_depth = threading.local()


def _flat_namespace(cfg: Any) -> dict[str, Any]:
    if hasattr(cfg, "items"):
        try:
            return {str(k): v for k, v in cfg.items(branches=False)}
        except TypeError:
            pass
    return {str(k): v for k, v in vars(cfg).items()}


def _jsonargparse_overrides(cfg: Any, args: Any) -> list[str] | None:
    remote = _remote("jsonargparse", ARGS_SECTION)
    if not remote:
        return None
    flat = _flat_namespace(cfg)
    extra = []
    for key, text in remote.items():
        if key in flat and text != to_text(_plain(flat[key])):
            extra.append(f"--{key}={'null' if text == 'None' else text}")
    if not extra:
        return None
    given = list(sys.argv[1:] if args is None else args)
    return given + extra


def _jsonargparse_record(cfg: Any) -> None:
    values = {k: v for k, v in _flat_namespace(cfg).items() if not k.startswith("__")}
    _record("jsonargparse", "the jsonargparse values", _set_params(ARGS_SECTION, values))


# ---- python-dotenv --------------------------------------------------------------------------


def secret_name(name: str) -> bool:
    upper = name.upper()
    return any(mark in upper for mark in SECRET_MARKS)


def patch_dotenv(module: Any) -> None:
    import dotenv.main as main

    dotenv_cls = main.DotEnv
    original = dotenv_cls.set_as_environment_variables
    if getattr(original, "_arno", False):
        return

    @functools.wraps(original)
    def set_as_environment_variables(self: Any) -> Any:
        result = original(self)
        guarded("the .env names", _dotenv_loaded, list(self.dict()))
        return result

    set_as_environment_variables._arno = True  # type: ignore[attr-defined]
    dotenv_cls.set_as_environment_variables = (  # type: ignore[method-assign]
        set_as_environment_variables)
    guarded("the .env file loaded before Task.init", _dotenv_catch_up, module)


def _dotenv_loaded(names: list[str]) -> None:
    remote = _remote("dotenv", ENV_SECTION)
    if remote:
        for name, value in remote.items():
            if value != REDACTED:
                os.environ[name] = value
        names = list(dict.fromkeys([*names, *remote]))
    values = {name: (REDACTED if secret_name(name) else os.environ.get(name, ""))
              for name in names if name in os.environ}
    _record("dotenv", "the .env names", _set_params(ENV_SECTION, values))


def _dotenv_catch_up(module: Any) -> None:
    """A ``.env`` loaded before the hook existed: its names that the environment holds with
    the file's values."""
    found = module.find_dotenv(usecwd=True)
    if not found:
        if _starting_task("dotenv") is not None and _remote("dotenv", ENV_SECTION):
            _dotenv_loaded([])
        return
    loaded = [name for name, value in module.dotenv_values(found).items()
              if value is not None and os.environ.get(name) == value]
    if loaded or _remote("dotenv", ENV_SECTION):
        _dotenv_loaded(loaded)

"""``Task``: one run of a script, as ClearML users know it (``Task.init``, ``connect``,
``get_logger``, ``upload_artifact``...).

A facade: REST calls go through :class:`arno.client.TaskClient`, parameters and configuration
through :mod:`arno.sdk._task_params`, the end of the process through
:mod:`arno.sdk._task_exit`, reuse of an earlier run through :mod:`arno.sdk._task_reuse`. What
a call needs is imported when it is called, so ``from arno import Task`` stays instant.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from arno.client._tasks import TaskClient
from arno.core.errors import ArnoError, InvalidInput, NotFound
from arno.core.status import TaskStatus, TaskType
from arno.sdk import _context, _environment, _task_more
from arno.sdk._task_exit import ExitWatch
from arno.sdk._task_models import TaskModels
from arno.sdk._task_more import TaskMore
from arno.sdk._task_params import TaskParameters, split_key

if TYPE_CHECKING:
    from arno.client import Reporter
    from arno.sdk._artifacts import Artifact
    from arno.sdk._console import ConsoleCapture
    from arno.sdk._logger import Logger
    from arno.sdk._monitor import MachineMonitor

log = logging.getLogger("arno.task")

MONITOR_METRIC = ":monitor:machine"
ORPHAN_WAIT = 10.0
"""Seconds ``close`` waits for batches that earlier processes left in the spool to go out."""
CAPTURE_WAIT = 10.0
"""Seconds ``close`` waits for the background capture of git state and requirements."""

FRAMEWORKS = frozenset({
    "matplotlib", "tensorboard", "tensorboardx", "pytorch", "tensorflow", "keras", "xgboost",
    "lightgbm", "catboost", "scikit", "sklearn", "joblib", "fastai", "hydra", "detect_repository",
    "megengine", "jsonargparse", "onnx", "pickle", "transformers", "click", "dotenv",
})
"""Names ``auto_connect_frameworks`` takes in its dict form."""


def _frameworks(option: bool | dict[str, Any]) -> dict[str, Any]:
    if isinstance(option, bool):
        return dict.fromkeys(FRAMEWORKS, option)
    if not isinstance(option, dict):
        raise InvalidInput("auto_connect_frameworks takes True, False or a dict of "
                           f"{{framework: bool}}, got {type(option).__name__}")
    unknown = sorted(set(option) - FRAMEWORKS)
    if unknown:
        log.warning("auto_connect_frameworks: unknown framework(s) %s ignored; known: %s",
                    ", ".join(unknown), ", ".join(sorted(FRAMEWORKS)))
    # a framework not named keeps its default (on), as in ClearML
    return {name: option.get(name, True) for name in FRAMEWORKS}


def _arg_filter(option: bool | dict[str, bool]) -> dict[str, bool] | None:
    """None: no argparse capture; else which arguments to leave out ({name: False})."""
    if isinstance(option, bool):
        return {} if option else None
    if not isinstance(option, dict):
        raise InvalidInput("auto_connect_arg_parser takes True, False or a dict of "
                           f"{{argument: bool}}, got {type(option).__name__}")
    if option.get("*") is False and not any(option.values()):
        return None
    return {k.lstrip("-"): bool(v) for k, v in option.items()}


class Task(TaskMore, TaskModels):
    """A task (experiment run). Create one with :meth:`init`; look one up with
    :meth:`get_task` or :meth:`get_tasks`."""

    TaskTypes = TaskType
    TaskStatusEnum = TaskStatus
    _current: ClassVar[Task | None] = None
    _init_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, session: Any, info: dict[str, Any], *, attached: bool = False) -> None:
        self._session = session
        self._client = TaskClient(session)
        self._info = info
        self._attached = attached  # created by init() in this process, reporting into it
        self._parameters = TaskParameters(self._client, self.id)
        self._reporter: Reporter | None = None
        self._logger: Logger | None = None
        self._console: ConsoleCapture | None = None
        self._monitor: MachineMonitor | None = None
        self._orphans: threading.Thread | None = None
        self._capture: Any = None
        self._registry: Any = None
        self._exit_watch: ExitWatch | None = None
        self._frameworks: dict[str, Any] = {}
        self._args_left_out: dict[str, bool] = {}
        self._initial_iteration = 0
        self._closed = False

    # ---- creation --------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | TaskType = TaskType.training,
        tags: list[str] | None = None,
        reuse_last_task_id: bool | str = True,
        continue_last_task: bool | str | int = False,
        output_uri: str | bool | None = None,
        auto_connect_arg_parser: bool | dict[str, bool] = True,
        auto_connect_frameworks: bool | dict[str, Any] = True,
        auto_resource_monitoring: bool | dict[str, Any] = True,
        auto_connect_streams: bool | dict[str, bool] = True,
        deferred_init: bool = False,
        offline: bool | None = None,
        monitor_interval: float = 30.0,
    ) -> Task:
        """Start recording this process as a task and return it.

        Records the script, git state and requirements (in the background), argparse
        arguments (section "Args"), console output and machine stats. When an agent runs the
        task the existing task is resumed and ``connect`` returns the values stored on the
        server. ``reuse_last_task_id`` (default) takes back the task the last run of this
        script made if it reported nothing; a task id reuses that task.
        ``continue_last_task`` goes on reporting into the last task (True), a given task (an
        id), or the last task from that iteration on (an int). ``deferred_init`` is accepted:
        the work it defers is already off the caller's thread.
        """
        with cls._init_lock:
            if cls._current is not None and not cls._current._closed:
                return cls._current
            frameworks = _frameworks(auto_connect_frameworks)
            args_filter = _arg_filter(auto_connect_arg_parser)
            if output_uri is not None and not isinstance(output_uri, bool | str):
                raise InvalidInput("output_uri takes a URL or True/False")
            cfg = _context.config()
            if offline is None:
                offline = cfg.offline or _task_more.offline_default()
            if cfg.task_id and not offline:
                task = cls._resume_for_agent(cfg.task_id)
            else:
                if not project_name or not task_name:
                    raise InvalidInput("Task.init needs project_name and task_name")
                task = cls._start_here(
                    project_name, task_name, TaskType(task_type), list(tags or []),
                    reuse_last_task_id, continue_last_task, bool(offline))
            task._frameworks = frameworks
            task._args_left_out = {k: v for k, v in (args_filter or {}).items() if not v}
            if output_uri is not None:
                task.output_uri = output_uri  # type: ignore[assignment]
            streams = bool(auto_connect_streams) and not cfg.agent_console
            task._start(streams, bool(auto_resource_monitoring), args_filter is not None,
                        monitor_interval)
            _task_more.seed_now()
            cls._current = task
            return task

    @classmethod
    def _resume_for_agent(cls, task_id: str) -> Task:
        """Under an agent: the task exists, with the script and the parameters to use."""
        client = TaskClient(_context.session())
        info = client.get(task_id)
        params = info.get("hyperparams") or []
        if info["status"] in (TaskStatus.created, TaskStatus.queued):
            info = {**info, **client.set_status(task_id, TaskStatus.in_progress.value)}
        task = cls(client.session, info, attached=True)
        task._parameters.remote = {f"{p['section']}/{p['name']}": p["value"] for p in params}
        return task

    @classmethod
    def _start_here(cls, project: str, name: str, task_type: TaskType, tags: list[str],
                    reuse: bool | str, resume: bool | str | int, offline: bool) -> Task:
        from arno.sdk import _task_reuse

        session = _context.offline_session() if offline else _context.session()
        client = TaskClient(session)
        capture = _environment.ScriptCapture()
        last = _task_reuse.LastTasks(_context.home())
        host = getattr(session, "host", "")
        info: dict[str, Any] | None = None
        offset = 0
        if not offline and (resume is not False and resume is not None):
            wanted = resume if isinstance(resume, str) else last.get(host, project, name)
            found = _lookup(client, wanted)
            if isinstance(resume, str) and found is None:
                raise NotFound(f"continue_last_task: no task {resume}")
            if found is not None and _task_reuse.can_continue(found):
                info = {**found, **client.set_status(found["id"], TaskStatus.in_progress.value,
                                                     force=True)}
                offset = (resume if isinstance(resume, int) and not isinstance(resume, bool)
                          else (found.get("last_iteration") or 0))
        if info is None and not offline and reuse:
            wanted = reuse if isinstance(reuse, str) else last.get(host, project, name)
            found = _lookup(client, wanted)
            if found is not None and _task_reuse.can_reuse(found, client.artifacts(found["id"])):
                info = _take_back(client, found, task_type, tags, capture.quick)
        if info is None:
            info = client.create({
                "project": project, "name": name, "type": task_type.value,
                "status": TaskStatus.in_progress.value, "tags": tags, "script": capture.quick,
            })
        task = cls(session, info, attached=True)
        task._initial_iteration = int(offset)
        if not offline:
            last.put(host, project, name, task.id)
        task._capture = capture
        capture.start(task._script_captured)
        return task

    def _script_captured(self, script: dict[str, Any]) -> None:
        """The background capture is done: store the whole record (git, requirements)."""
        if self._closed and not self._session.offline and self._capture is None:
            return
        script = _task_more.as_standalone(script, self._capture)
        try:
            self._client.patch(self.id, {"script": script})
        except ArnoError as exc:
            log.warning("arno: could not store the script's git state and requirements: %s",
                        exc)

    def _start(self, streams: bool, monitoring: bool, argparser: bool, interval: float) -> None:
        from arno.client import Reporter, deliver_in_background
        from arno.sdk._logger import Logger

        cfg = _context.config()
        self._reporter = Reporter(self._session, self.id, spool_dir=cfg.home / "spool")
        self._reporter.start()
        if not self._session.offline:  # batches earlier processes left here: send them too
            self._orphans = deliver_in_background(self._session, cfg.home)
        self._logger = Logger(self._reporter, self._session, console_captured=streams)
        Logger._current = self._logger
        if streams:
            from arno.sdk._console import ConsoleCapture

            self._console = ConsoleCapture(self._reporter.console)
            self._console.start()
        if monitoring:
            # psutil takes a while to import: the monitor starts on its own thread
            threading.Thread(target=self._start_monitor, args=(interval,), daemon=True,
                             name="arno-monitor-start").start()
        if argparser:
            early = _environment.collect_argparse_args()
            if early is not None and _early_parse_seen:
                # the script parsed its arguments before Task.init: record them now
                self._parameters.connect_values("Args", self._plain_args(early))
            _environment.patch_argparse(self._on_argparse)
        self._exit_watch = ExitWatch(self._end, self.close)
        self._exit_watch.install()
        from arno.sdk import _frameworks

        _frameworks.install()

    def _start_monitor(self, interval: float) -> None:
        from arno.sdk._monitor import MachineMonitor

        started = time.monotonic()

        def report(stats: dict[str, float]) -> None:
            if self._reporter is not None and not self._closed:
                self._reporter.scalars(MONITOR_METRIC, stats, int(time.monotonic() - started))

        if self._closed:
            return
        self._monitor = MachineMonitor(report, interval=interval)
        self._monitor.start()

    # ---- requirements (called before init) ---------------------------------------------------
    @classmethod
    def add_requirements(cls, package_name: str, package_version: str | None = None) -> None:
        """Add a package (or a requirements file) to what the next ``init`` records as the
        requirements an agent installs."""
        from arno.sdk import _requirements

        _requirements.add_requirements(package_name, package_version)

    @classmethod
    def ignore_requirements(cls, package_name: str) -> None:
        """Leave a package out of the recorded requirements."""
        from arno.sdk import _requirements

        _requirements.ignore_requirements(package_name)

    @classmethod
    def force_requirements_env_freeze(cls, force: bool = True,
                                      requirements_file: str | Path | None = None) -> None:
        """Record the whole environment (or ``requirements_file``) as the requirements,
        instead of what the script imports."""
        from arno.sdk import _requirements

        _requirements.force_requirements_env_freeze(force, requirements_file)

    # ---- identity --------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self._info["id"])

    @property
    def name(self) -> str:
        return str(self._info["name"])

    @name.setter
    def name(self, value: str) -> None:
        self.set_name(value)

    @property
    def status(self) -> str:
        return str(self._info["status"])

    @property
    def project(self) -> str:
        return str(self._info.get("project_id", ""))

    def get_project_name(self) -> str:
        return str(self._info.get("project", ""))

    @property
    def task_type(self) -> str:
        return str(self._info.get("type", ""))

    @property
    def parent(self) -> str | None:
        return self._info.get("parent_id")

    @property
    def comment(self) -> str:
        return str(self._info.get("comment", ""))

    @comment.setter
    def comment(self, value: str) -> None:
        self.set_comment(value)

    @property
    def data(self) -> dict[str, Any]:
        """The task's record as the server returned it."""
        return dict(self._info)

    def export_task(self) -> dict[str, Any]:
        return dict(self.reload()._info)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.get_project_name()}/{self.name} [{self.status}]>"

    def get_status(self) -> str:
        self.reload()
        return self.status

    def reload(self) -> Task:
        if not self._session.offline:
            self._info = self._client.get(self.id)
        return self

    @classmethod
    def current_task(cls) -> Task | None:
        return cls._current

    def get_logger(self) -> Logger:
        if self._logger is None:
            # a task looked up with get_task: report into it on demand
            from arno.client import Reporter
            from arno.sdk._logger import Logger

            self._reporter = Reporter(self._session, self.id,
                                      spool_dir=_context.home() / "spool")
            self._reporter.start()
            self._logger = Logger(self._reporter, self._session)
        return self._logger

    @property
    def logger(self) -> Logger:
        return self.get_logger()

    def get_output_log_web_page(self) -> str:
        return f"{self._session.host}/tasks/{self.id}"

    @property
    def output_uri(self) -> str | None:
        """Where this task's models and artifacts go: None (the Arno server's store) or a
        URL (s3://, file://...) given to ``Task.init(output_uri=...)``."""
        value = (self._info.get("runtime") or {}).get("output_uri")
        return str(value) if value else None

    @output_uri.setter
    def output_uri(self, value: str | bool | None) -> None:
        uri = value if isinstance(value, str) and value else None
        if uri is not None and "://" not in uri and not uri.startswith("/"):
            raise InvalidInput(f"output_uri must be a URL (s3://..., file://...) or a path, "
                               f"got {uri!r}")
        self._patch({"runtime": {**(self._info.get("runtime") or {}), "output_uri": uri}})

    def set_output_uri(self, value: str | bool | None) -> None:
        self.output_uri = value  # type: ignore[assignment]

    def framework_enabled(self, name: str) -> bool:
        """Whether ``auto_connect_frameworks`` lets Arno hook into ``name``."""
        return bool(self._frameworks.get(name, False))

    # ---- lookup ----------------------------------------------------------------------------
    @classmethod
    def get_task(
        cls,
        task_id: str | None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: list[str] | None = None,
        allow_archived: bool = True,
        task_filter: dict[str, Any] | None = None,
    ) -> Task:
        """By id, or the newest task with that name in that project. Raises ``NotFound``."""
        client = TaskClient(_context.session())
        if task_id:
            return cls(client.session, client.get(task_id))
        if not task_name and not project_name:
            raise InvalidInput("get_task needs task_id, or project_name and/or task_name")
        query: dict[str, Any] = {"limit": 200, "sort": "-created_at",
                                 "include_subprojects": False, "project": project_name,
                                 "name": task_name, "tag": tags or None,
                                 "include_archived": allow_archived or None}
        # "name" matches parts of names: look on until the exact name shows up
        for row in client.iterate(**query):
            if task_name is None or row["name"] == task_name:
                return cls(client.session, client.get(row["id"]))
        raise NotFound(f"no task named {task_name!r} in project {project_name!r}")

    @classmethod
    def get_tasks(
        cls,
        task_ids: list[str] | None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: list[str] | None = None,
        allow_archived: bool = True,
        task_filter: dict[str, Any] | None = None,
        status: list[str] | str | None = None,
    ) -> list[Task]:
        """Tasks matching every filter given; ``task_name`` is a regular expression."""
        client = TaskClient(_context.session())
        if task_ids:
            return [cls(client.session, client.get(tid)) for tid in task_ids]
        flt = dict(task_filter or {})
        statuses = status or flt.get("status") or []
        query: dict[str, Any] = {
            "project": project_name,
            "name_regex": task_name,
            "tag": list(tags or flt.get("tags") or []),
            "status": [statuses] if isinstance(statuses, str) else list(statuses),
            "sort": flt.get("order_by") or "-created_at",
            "limit": 500,
            "include_archived": allow_archived or None,
        }
        return [cls(client.session, row) for row in client.iterate(**query)]

    @classmethod
    def get_task_id(cls, task: Task | str) -> str:
        return task.id if isinstance(task, Task) else str(task)

    # ---- parameters --------------------------------------------------------------------------
    def connect(self, mutable: Any, name: str | None = None,
                ignore_remote_overrides: bool = False) -> Any:
        """Record ``mutable``'s values as hyperparameters and return it with the values the
        server holds. Dicts (nested keys become "a/b"), argparse namespaces (section "Args"),
        ``arno.task_parameters.TaskParameters`` and plain objects (their public attributes)
        are supported. A model (``InputModel``, ``OutputModel``) is connected as the task's
        input or output model."""
        if _is_model(mutable):
            return self._connect_model(mutable, name, ignore_remote_overrides)
        if not ignore_remote_overrides:
            return self._parameters.connect(mutable, name)
        remote, self._parameters.remote = self._parameters.remote, None
        try:
            return self._parameters.connect(mutable, name)
        finally:
            self._parameters.remote = remote

    @staticmethod
    def _plain_args(args: dict[str, Any]) -> dict[str, Any]:
        return {k: (v if isinstance(v, str | int | float | bool | list | type(None)) else str(v))
                for k, v in args.items()}

    def _on_argparse(self, args: dict[str, Any]) -> dict[str, Any] | None:
        clean = {k: v for k, v in self._plain_args(args).items()
                 if k not in self._args_left_out}
        before = dict(clean)
        merged = self._parameters.connect_values("Args", clean)
        overrides = {k: v for k, v in merged.items() if before.get(k) != v}
        return overrides or None

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Set "Section/name" parameters (a name without section goes to "General")."""
        values: dict[str, Any] = {}
        for arg in args:
            values.update(arg)
        values.update(kwargs)
        self._parameters.set(values)

    def set_parameters_as_dict(self, dictionary: dict[str, Any]) -> None:
        """``{"Section": {"name": value}}`` (or flat "Section/name" keys)."""
        flat: dict[str, Any] = {}
        for key, value in dictionary.items():
            if isinstance(value, dict):
                flat.update({f"{key}/{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        self._parameters.set(flat)

    def set_parameter(self, name: str, value: Any, description: str | None = None,
                      value_type: Any = None) -> None:
        self._parameters.set({name: value}, {name: description} if description else None)

    def update_parameters(self, *args: Any, **kwargs: Any) -> None:
        self.set_parameters(*args, **kwargs)

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = False
                       ) -> dict[str, Any]:
        """Every parameter as ``{"Section/name": value}`` (strings unless ``cast``)."""
        return self._parameters.all(cast=cast)

    def get_parameter(self, name: str, default: Any = None, cast: bool = False) -> Any:
        section, pname = split_key(name)
        return self.get_parameters(cast=cast).get(f"{section}/{pname}", default)

    def get_parameters_as_dict(self, cast: bool = False) -> dict[str, dict[str, Any]]:
        return self._parameters.as_dict(cast=cast)

    def delete_parameter(self, name: str, force: bool = False) -> bool:
        self._parameters.delete(name)
        return True

    # ---- configuration objects -------------------------------------------------------------
    def connect_configuration(
        self, configuration: Any, name: str | None = None, description: str | None = None,
        ignore_remote_overrides: bool = False,
    ) -> Any:
        """Store a configuration object (dict, text, or a file path) and return it, or the
        server's version of it when an agent runs the task (unless
        ``ignore_remote_overrides``)."""
        remote = self._parameters.remote
        if ignore_remote_overrides:
            self._parameters.remote = None
        try:
            return self._parameters.connect_configuration(configuration, name, description,
                                                          _context.home() / "cache")
        finally:
            self._parameters.remote = remote

    def get_configuration_object(self, name: str) -> str | None:
        return self._parameters.configuration_text(name)

    def get_configuration_object_as_dict(self, name: str) -> Any:
        import json

        text = self.get_configuration_object(name)
        return None if text is None else json.loads(text)

    def get_configuration_objects(self) -> dict[str, str]:
        return {name: self.get_configuration_object(name) or ""
                for name in self._parameters.configuration_names()}

    def set_configuration_object(self, name: str, config_text: str | None = None,
                                 description: str | None = None, config_type: str | None = None,
                                 config_dict: dict[str, Any] | None = None) -> None:
        self._parameters.set_configuration(name, config_text, description, config_type,
                                           config_dict)

    # ---- properties, tags, comment -------------------------------------------------------
    def _patch(self, body: dict[str, Any]) -> None:
        self._info.update(self._client.patch(self.id, body))

    def set_user_properties(self, *iterables: Any, **properties: Any) -> bool:
        values: dict[str, Any] = dict(self._info.get("user_properties") or {})
        for item in iterables:
            if isinstance(item, dict) and "name" in item:
                values[item["name"]] = item.get("value")
            elif isinstance(item, dict):
                values.update(item)
            else:
                name, value = item
                values[name] = value
        values.update(properties)
        self._patch({"user_properties": values})
        return True

    def get_user_properties(self, value_only: bool = False) -> dict[str, Any]:
        props: dict[str, Any] = self.reload()._info.get("user_properties", {})
        return dict(props)

    def delete_user_properties(self, *iterables: Any) -> bool:
        props = self.get_user_properties()
        for name in iterables:
            props.pop(name if isinstance(name, str) else name.get("name"), None)
        self._patch({"user_properties": props})
        return True

    def add_tags(self, tags: str | list[str]) -> None:
        new = [tags] if isinstance(tags, str) else list(tags)
        current = list(self.reload()._info.get("tags", []))
        self._patch({"tags": current + [t for t in new if t not in current]})

    def set_tags(self, tags: list[str]) -> None:
        self._patch({"tags": list(tags)})

    def get_tags(self) -> list[str]:
        return list(self.reload()._info.get("tags", []))

    def set_comment(self, comment: str) -> None:
        self._patch({"comment": comment})

    def set_name(self, name: str) -> None:
        self._patch({"name": name})

    def rename(self, new_name: str) -> None:
        self.set_name(new_name)

    def set_task_type(self, task_type: str | TaskType) -> None:
        self._patch({"type": TaskType(task_type).value})

    # ---- artifacts -------------------------------------------------------------------------
    def upload_artifact(
        self,
        name: str,
        artifact_object: Any,
        metadata: dict[str, Any] | None = None,
        delete_after_upload: bool = False,
        auto_pickle: bool | None = None,
        preview: Any = None,
        wait_on_upload: bool = False,
        extension_name: str | None = None,
        serialization_function: Any = None,
        retries: int = 0,
        sort_keys: bool = True,
    ) -> bool:
        """Store an object as an artifact: numpy array, pandas frame, PIL image, dict/list,
        a file or folder path, text; other objects are pickled (``auto_pickle``, the default;
        ``False`` refuses them)."""
        from arno.sdk._artifacts import upload_artifact

        info = upload_artifact(self._session, self.id, name, artifact_object,
                               metadata=metadata, auto_pickle=auto_pickle is not False,
                               preview=None if preview is None else str(preview),
                               reporter=self._reporter, wait_on_upload=wait_on_upload,
                               delete_after_upload=delete_after_upload)
        return bool(info)

    def _artifact_registry(self) -> Any:
        if self._registry is None:
            from arno.sdk._artifacts import ArtifactRegistry

            self._registry = ArtifactRegistry(self._session, self.get_logger()._reporter,
                                              self.id)
        return self._registry

    def register_artifact(self, name: str, artifact: Any, metadata: dict[str, Any] | None = None,
                          uniqueness_columns: bool | list[str] = True) -> None:
        """Watch a pandas DataFrame: it is uploaded again (with ``metadata``) whenever its
        content changed, checked every few seconds and at flush and close."""
        self._artifact_registry().register(name, artifact, metadata=metadata,
                                           uniqueness_columns=uniqueness_columns)

    def unregister_artifact(self, name: str) -> None:
        if self._registry is not None:
            self._registry.unregister(name)

    def get_registered_artifacts(self) -> dict[str, Any]:
        return {} if self._registry is None else dict(self._registry.registered())

    @property
    def artifacts(self) -> dict[str, Artifact]:
        from arno.sdk._artifacts import Artifact

        return {r["name"]: Artifact(self._session, r) for r in self._client.artifacts(self.id)}

    # ---- reading what was reported ---------------------------------------------------------
    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{title: {series: {"last", "min", "max"}}}``."""
        from arno.core.floats import decode_float

        out: dict[str, dict[str, dict[str, float]]] = {}
        for m in self._client.metrics(self.id):
            out.setdefault(m["metric"], {})[m["variant"]] = {
                "last": decode_float(m["last"]),
                "min": decode_float(m["min"]),
                "max": decode_float(m["max"]),
            }
        return out

    def get_reported_scalars(self, max_samples: int = 0, x_axis: str = "iter"
                             ) -> dict[str, dict[str, dict[str, list[float]]]]:
        """``{title: {series: {"x": [...], "y": [...]}}}``; ``max_samples`` > 0 thins long
        series (keeping extremes). ``x_axis`` "timestamp" gives unix times as x."""
        from arno.core.floats import decode_float

        out: dict[str, dict[str, dict[str, list[float]]]] = {}
        for s in self._client.scalars(self.id, max_points=max_samples or None,
                                      timestamps=x_axis != "iter"):
            xs = s["x"] if x_axis == "iter" else s["timestamps"]
            out.setdefault(s["metric"], {})[s["variant"]] = {
                "x": xs,
                "y": [v if isinstance(v, float | int) else decode_float(v) for v in s["y"]],
            }
        return out

    def get_reported_single_values(self) -> dict[str, float]:
        from arno.core.floats import decode_float

        return {v["name"]: decode_float(v["value"])
                for v in self._client.single_values(self.id)}

    def get_all_reported_scalars(self, x_axis: str = "iter"
                                 ) -> dict[str, dict[str, dict[str, list[float]]]]:
        """Every point of every scalar series, not thinned."""
        return self.get_reported_scalars(0, x_axis)

    def get_reported_single_value(self, name: str) -> float | None:
        return self.get_reported_single_values().get(name)

    def get_reported_plots(self, max_iterations: int | None = None) -> list[dict[str, Any]]:
        return self._client.plots(self.id)

    def get_debug_samples(self, title: str | None = None, series: str | None = None,
                          n_last_iterations: int | None = None) -> list[dict[str, Any]]:
        """Debug samples of ``title`` (every title if None), of ``series`` if given, from
        the last ``n_last_iterations`` iterations if given."""
        rows = [r for r in self._client.debug_samples(self.id, title)
                if series is None or r["variant"] == series]
        if n_last_iterations:
            keep = sorted({r["iteration"] for r in rows})[-int(n_last_iterations):]
            rows = [r for r in rows if r["iteration"] in keep]
        return rows

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The last ``number_of_reports`` console lines, oldest first."""
        rows = self._client.console(self.id, limit=max(1, number_of_reports))
        return [line["text"] for line in rows]

    def get_last_iteration(self) -> int:
        return int(self.reload()._info.get("last_iteration") or 0)

    def set_initial_iteration(self, offset: int = 0) -> int:
        """The iteration this run starts counting from (``continue_last_task``)."""
        self._initial_iteration = int(offset)
        return self._initial_iteration

    def get_initial_iteration(self) -> int:
        return self._initial_iteration

    # ---- lifecycle ---------------------------------------------------------------------------
    def flush(self, wait_for_uploads: bool = False, timeout: float | None = None) -> bool:
        """Send everything reported so far; with ``wait_for_uploads`` return once stored."""
        if self._console is not None:
            self._console.flush_partial()
        if self._registry is not None and wait_for_uploads:
            self._registry.sync()
        if self._reporter is None:
            return True
        return self._reporter.flush(wait=wait_for_uploads, timeout=timeout)

    def _set_status(self, status: TaskStatus, message: str = "", force: bool = False) -> None:
        self._info.update(self._client.set_status(self.id, status.value, message=message,
                                                  force=force))

    def _end(self, status: TaskStatus, message: str) -> None:
        """How the process ended (called once, by the exit watch)."""
        if not self._attached or self._closed or self.status != TaskStatus.in_progress:
            return
        if self._console is not None:
            self._console.flush_partial()
        self.flush(wait_for_uploads=True, timeout=30)
        self._set_status(status, message)

    def mark_started(self, force: bool = False) -> None:
        self._set_status(TaskStatus.in_progress, force=force)

    def started(self, ignore_errors: bool = True, force: bool = False) -> None:
        self.mark_started(force=force)

    def mark_completed(self, ignore_errors: bool = True, status_message: str | None = None,
                       force: bool = False) -> None:
        """Flush what was reported, then mark the task completed."""
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.completed, status_message or "", force)
        if (self._info.get("runtime") or {}).get("publish_on_completion"):
            self._set_status(TaskStatus.published)

    def completed(self, ignore_errors: bool = True) -> None:
        self.mark_completed(ignore_errors=ignore_errors)

    def mark_failed(self, ignore_errors: bool = True, status_reason: str | None = None,
                    status_message: str | None = None, force: bool = False) -> None:
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.failed, status_message or status_reason or "", force)

    def mark_stopped(self, force: bool = False, status_message: str | None = None) -> None:
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.stopped, status_message or "", force)

    def stopped(self, ignore_errors: bool = True, force: bool = False,
                status_reason: str | None = None, status_message: str | None = None) -> None:
        self.mark_stopped(force=force, status_message=status_message or status_reason)

    def publish(self, ignore_errors: bool = True) -> None:
        self._set_status(TaskStatus.published)

    def reset(self, set_started_on_success: bool = False, force: bool = False) -> None:
        self._set_status(TaskStatus.created, force=force)
        if set_started_on_success:
            self._set_status(TaskStatus.in_progress)

    def set_archived(self, archive: bool = True) -> None:
        self._info.update(self._client.archive(self.id, archive))

    def get_archived(self) -> bool:
        return bool(self.reload()._info.get("archived"))

    def delete(self, delete_artifacts_and_models: bool = True, skip_models_used_by_other_tasks:
               bool = True, raise_on_error: bool = False, callback: Any = None,
               force: bool = False) -> bool:
        try:
            self._client.delete(self.id, force=force)
        except ArnoError as exc:
            if raise_on_error:
                raise Task.DeleteError(f"could not delete task {self.id}: {exc}") from exc
            return False
        return True

    @classmethod
    def clone(cls, source_task: Task | str | None = None, name: str | None = None,
              comment: str | None = None, parent: str | None = None,
              project: str | None = None) -> Task:
        """A draft copy of the task's inputs (parameters, configuration, script)."""
        if source_task is None:
            raise InvalidInput("clone needs source_task (a Task or a task id)")
        client = TaskClient(_context.session())
        info = client.clone(cls.get_task_id(source_task), name=name, parent_id=parent,
                            project=project)
        task = cls(client.session, info)
        if comment is not None:
            task.set_comment(comment)
        return task

    @classmethod
    def clone_many(cls, source_task: Task | str, variants: list[dict[str, Any]]) -> list[Task]:
        """Many drafts of one task in one request per thousand (HPO trials, pipeline steps):
        each variant may give ``name``, ``tags``, ``comment``, ``parent_id`` and
        ``hyperparams`` (``{"Section/name": value}``) to apply to its copy."""
        from arno.sdk._task_params import param_row

        client = TaskClient(_context.session())
        base = cls.get_task_id(source_task)
        items = []
        for variant in variants:
            item = {k: v for k, v in variant.items() if k != "hyperparams"}
            item["clone_of"] = base
            params = variant.get("hyperparams") or {}
            if params:
                item["hyperparams"] = [param_row(*split_key(k), v) for k, v in params.items()]
            items.append(item)
        return [cls(client.session, info) for info in client.create_many(items)]

    # ---- remote execution ----------------------------------------------------------------
    @classmethod
    def enqueue(cls, task: Task | str, queue_name: str | None = None, queue_id: str | None = None,
                force: bool = False, priority: int = 0, max_retries: int | None = None) -> Task:
        """Put a draft task in a queue; an agent serving the queue will run it."""
        client = TaskClient(_context.session())
        info = client.enqueue(cls.get_task_id(task), queue_name or queue_id or "default",
                              priority=priority, max_retries=max_retries)
        return cls(client.session, info)

    @classmethod
    def dequeue(cls, task: Task | str) -> Task:
        """Take a queued task out of its queue (back to draft)."""
        client = TaskClient(_context.session())
        return cls(client.session, client.dequeue(cls.get_task_id(task)))

    def abort(self, message: str = "aborted") -> str:
        """Stop the task: at once if queued, through its agent if running."""
        state = self._client.abort(self.id, message)
        self.reload()
        return state

    @staticmethod
    def running_remotely() -> bool:
        return _context.config().under_agent

    def execute_remotely(self, queue_name: str | None = None, clone: bool = False,
                         exit_process: bool = True) -> Task | None:
        """Stop running here and send this task to a queue (``default`` unless named).

        Under an agent this does nothing, so the same script runs there. With ``clone`` a copy
        is queued and this process goes on; otherwise this task is reset to a draft with what
        it recorded so far (parameters, configuration, code) and queued, and with
        ``exit_process`` the process ends."""
        if self.running_remotely():
            return None
        if self._session.offline:
            raise InvalidInput("execute_remotely needs a server; this task is offline")
        self.flush(wait_for_uploads=True)
        if self._capture is not None:
            self._capture.wait(CAPTURE_WAIT)  # the agent needs the requirements and git state
        if clone:
            copy = Task.clone(self, name=self.name)
            return Task.enqueue(copy, queue_name)
        self._set_status(TaskStatus.stopped, "sent to a queue", force=True)
        self._set_status(TaskStatus.created, force=True)
        self._client.reset_events(self.id)
        queued = Task.enqueue(self, queue_name)
        self._info = queued._info
        if exit_process:
            import os

            self._attached = False
            self.close()
            print(f"arno: task {self.id} queued in {queue_name or 'default'}; exiting",
                  file=sys.__stderr__)
            os._exit(0)
        return queued

    @classmethod
    def create(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | TaskType | None = None,
        repo: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        script: str | None = None,
        working_directory: str | None = None,
        packages: list[str] | bool | None = None,
        requirements_file: str | Path | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        argparse_args: list[tuple[str, Any]] | None = None,
        base_task_id: str | None = None,
        add_task_init_call: bool = True,
        force_single_script_file: bool = False,
        binary: str | None = None,
        module: str | None = None,
        detect_repository: bool = True,
    ) -> Task:
        """A draft task that runs ``script`` (from ``repo`` at ``branch``/``commit``, or the
        local file's text when there is no repository); nothing runs until it is enqueued."""
        from arno.sdk._task_params import param_row

        if not project_name or not task_name:
            raise InvalidInput("Task.create needs project_name and task_name")
        client = TaskClient(_context.session())
        info: dict[str, Any] = {"repository": repo, "branch": branch, "commit": commit,
                                "working_dir": working_directory or "."}
        if script:
            info["entry_point"] = script if repo else Path(script).name
            if not repo:
                path = Path(script)
                if not path.is_file():
                    raise InvalidInput(f"no script at {script}")
                info["source"] = path.read_text()
        requirements: list[str] = []
        if requirements_file:
            requirements = [ln.strip() for ln in Path(requirements_file).read_text().splitlines()
                            if ln.strip() and not ln.startswith("#")]
        if isinstance(packages, list):
            requirements += packages
        if requirements:
            info["requirements"] = "\n".join(requirements)
        info["python_version"] = "{}.{}.{}".format(*sys.version_info[:3])
        runtime: dict[str, Any] = {}
        if docker:
            runtime["container"] = {"image": docker, "arguments": docker_args or ""}
            if docker_bash_setup_script:
                runtime["container"]["setup_script"] = docker_bash_setup_script
        body = {
            "project": project_name, "name": task_name,
            "type": TaskType(task_type or TaskType.training).value,
            "status": TaskStatus.created.value,
            "script": {k: v for k, v in info.items() if v is not None},
            "runtime": runtime,
            "hyperparams": [param_row("Args", k.lstrip("-"), v) for k, v in argparse_args or []],
        }
        return cls(client.session, client.create(body))

    def close(self) -> None:
        """Flush everything and stop capturing. A running task is marked completed."""
        if self._closed:
            return
        self._closed = True
        if self._monitor is not None:
            self._monitor.stop()
        if self._console is not None:
            self._console.stop()
        install_argparse_hook()  # back to the hook that works without a task
        if self._capture is not None:
            self._capture.wait(CAPTURE_WAIT)
        from arno.sdk import _frameworks

        _frameworks.task_closing(self)
        if self._registry is not None:
            self._registry.close()
        if self._reporter is not None:
            self._reporter.close()
        if self._orphans is not None:
            self._orphans.join(timeout=ORPHAN_WAIT)
        if self._attached and self.status == TaskStatus.in_progress and not self._under_agent():
            try:
                self._set_status(TaskStatus.completed)
                if (self._info.get("runtime") or {}).get("publish_on_completion"):
                    self._set_status(TaskStatus.published)
            except ArnoError:
                pass
        if self._exit_watch is not None:
            self._exit_watch.remove()
        if Task._current is self:
            Task._current = None
            from arno.sdk._logger import Logger

            if Logger._current is self._logger:
                Logger._current = None
        if self._session.offline:
            path = self._session.package()
            print(f"arno: offline task recorded in {path}; upload it with "
                  f"`arno task import {path}`", file=sys.__stderr__)

    def _under_agent(self) -> bool:
        """An agent runs us: it sends our last console lines, then ends the task by our exit
        code, so the task is not marked completed from here."""
        cfg = _context.config()
        return cfg.agent_console and cfg.task_id == self.id

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _is_model(value: Any) -> bool:
    """A model object of the SDK (its module is loaded only when one was made)."""
    module = sys.modules.get("arno.sdk._model_base")
    return module is not None and isinstance(value, module.BaseModel)


def _lookup(client: TaskClient, task_id: str | None) -> dict[str, Any] | None:
    """The task, or None when it is gone or not ours to take."""
    if not task_id:
        return None
    try:
        return client.get(task_id)
    except ArnoError as exc:
        if exc.status in (403, 404):
            return None
        raise


def _take_back(client: TaskClient, info: dict[str, Any], task_type: TaskType, tags: list[str],
               script: dict[str, Any]) -> dict[str, Any]:
    """Make an earlier, empty task this run's: its console and parameters go, its record is
    this run's."""
    task_id = info["id"]
    if info.get("status") != TaskStatus.created:
        client.set_status(task_id, TaskStatus.created.value, force=True)  # events reset on drafts
    client.reset_events(task_id)
    old = [f"{p['section']}/{p['name']}" for p in info.get("hyperparams") or []]
    if old:
        client.delete_params(task_id, old)
    client.patch(task_id, {"type": task_type.value, "tags": tags, "script": script,
                           "comment": ""})
    return {**info, **client.set_status(task_id, TaskStatus.in_progress.value, force=True)}


_early_parse_seen = False


def _early_argparse(args: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments parsed while no task is running (often before ``Task.init``): remembered for
    the next ``Task.init``, and under an agent overridden at once by the server's "Args"."""
    global _early_parse_seen
    _early_parse_seen = True
    task_id = _context.config().task_id
    if not task_id:
        return None
    from arno.sdk._params import to_text

    try:
        params = TaskClient(_context.session()).params(task_id)
    except ArnoError:
        return None
    plain = Task._plain_args(args)
    return {
        p["name"]: p["value"]
        for p in params
        if p["section"] == "Args" and p["name"] in args
        and p["value"] != to_text(plain[p["name"]])
    } or None


def install_argparse_hook() -> None:
    """Watch argparse from the moment the SDK is imported, as users expect."""
    _environment.patch_argparse(_early_argparse)

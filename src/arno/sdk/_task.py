"""``Task``: one run of a script, as ClearML users know it (``Task.init``, ``connect``,
``get_logger``, ``upload_artifact``...). A thin facade over the client modules."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, NoReturn

from arno.client import Reporter, deliver_in_background
from arno.core.errors import ArnoError, InvalidInput, NotFound
from arno.core.schemas import decode_float
from arno.core.status import TaskStatus, TaskType
from arno.sdk import _context, _environment, _params
from arno.sdk._artifacts import Artifact, upload_artifact
from arno.sdk._console import ConsoleCapture
from arno.sdk._logger import Logger
from arno.sdk._monitor import MachineMonitor

MONITOR_METRIC = ":monitor:machine"
ORPHAN_WAIT = 10.0
"""Seconds ``close`` waits for batches that earlier processes left in the spool to go out."""


class Task:
    """A task (experiment run). Create one with :meth:`init`; look one up with
    :meth:`get_task` or :meth:`get_tasks`."""

    TaskTypes = TaskType
    TaskStatusEnum = TaskStatus
    _current: ClassVar[Task | None] = None
    _init_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, session: Any, info: dict[str, Any], *, attached: bool = False) -> None:
        self._session = session
        self._info = info
        self._attached = attached  # created by init() in this process, reporting into it
        self._reporter: Reporter | None = None
        self._logger: Logger | None = None
        self._console: ConsoleCapture | None = None
        self._monitor: MachineMonitor | None = None
        self._orphans: threading.Thread | None = None
        self._console_captured = False
        self._closed = False
        self._remote_values: dict[str, str] | None = None
        self._orig_excepthook: Any = None
        self._orig_exit: Any = None
        self._exit_code: object = None

    # ---- creation --------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | TaskType = TaskType.training,
        tags: list[str] | None = None,
        reuse_last_task_id: bool | str = True,
        continue_last_task: bool | str = False,
        output_uri: str | bool | None = None,
        auto_connect_arg_parser: bool = True,
        auto_connect_frameworks: bool | dict[str, Any] = True,
        auto_resource_monitoring: bool = True,
        auto_connect_streams: bool = True,
        offline: bool | None = None,
        monitor_interval: float = 30.0,
        **_: Any,
    ) -> Task:
        """Start recording this process as a task and return it.

        Records the git state, installed packages, Python version, argparse arguments
        (section "Args"), console output and machine stats. When an agent runs a task
        (``ARNO_TASK_ID`` is set) the existing task is resumed and ``connect`` returns the
        values stored on the server.
        """
        with cls._init_lock:
            if cls._current is not None and not cls._current._closed:
                return cls._current
            cfg = _context.config()
            if offline is None:
                offline = cfg.offline
            session = _context.offline_session() if offline else _context.session()
            remote_id = os.environ.get("ARNO_TASK_ID")
            script = _environment.collect_script_info()
            _attach_source(script)
            if remote_id and not offline:
                info = session.get(f"tasks/{remote_id}")
                if info["status"] in (TaskStatus.created, TaskStatus.queued):
                    info = session.post(f"tasks/{remote_id}/status",
                                        {"status": TaskStatus.in_progress.value})
                task = cls(session, info, attached=True)
                task._remote_values = {
                    f"{p['section']}/{p['name']}": p["value"]
                    for p in session.get(f"tasks/{remote_id}/params")
                }
            else:
                if not project_name or not task_name:
                    raise InvalidInput("Task.init needs project_name and task_name")
                body = {
                    "project": project_name,
                    "name": task_name,
                    "type": TaskType(task_type).value,
                    "status": TaskStatus.in_progress.value,
                    "tags": list(tags or []),
                    "script": script,
                }
                task = cls(session, session.post("tasks", body), attached=True)
            if os.environ.get("ARNO_AGENT_CONSOLE") == "1":
                auto_connect_streams = False  # the agent running us records the console
            task._start(auto_connect_streams, auto_resource_monitoring, auto_connect_arg_parser,
                        monitor_interval)
            cls._current = task
            return task

    def _start(self, streams: bool, monitoring: bool, argparser: bool, interval: float) -> None:
        cfg = _context.config()
        self._reporter = Reporter(self._session, self.id, spool_dir=cfg.home / "spool")
        self._reporter.start()
        if not self._session.offline:  # batches earlier processes left here: send them too
            self._orphans = deliver_in_background(self._session, cfg.home)
        self._logger = Logger(self, self._reporter)
        if streams:
            self._console = ConsoleCapture(self._reporter.console)
            self._console.start()
            self._console_captured = True
        if monitoring:
            started = time.monotonic()

            def report(stats: dict[str, float]) -> None:
                if self._reporter is not None:
                    it = int(time.monotonic() - started)
                    self._reporter.scalars(MONITOR_METRIC, stats, it)

            self._monitor = MachineMonitor(report, interval=interval)
            self._monitor.start()
        if argparser:
            early = _environment.collect_argparse_args()
            if early is not None and _early_parse_seen:
                # the script parsed its arguments before Task.init: record them now
                self._connect_values("Args", _plain_args(early))
            _environment.patch_argparse(self._on_argparse)
        atexit.register(self._at_exit)
        self._orig_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        self._orig_exit = sys.exit  # to learn the exit code: a non-zero one fails the task
        sys.exit = self._exit

    # ---- identity --------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self._info["id"])

    @property
    def name(self) -> str:
        return str(self._info["name"])

    @property
    def status(self) -> str:
        return str(self._info["status"])

    @property
    def project(self) -> str:
        return str(self._info.get("project_id", ""))

    def get_project_name(self) -> str:
        return str(self._info.get("project", ""))

    @property
    def data(self) -> dict[str, Any]:
        """The task's record as the server returned it."""
        return dict(self._info)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.get_project_name()}/{self.name} [{self.status}]>"

    def get_status(self) -> str:
        self.reload()
        return self.status

    def reload(self) -> Task:
        if not self._session.offline:
            self._info = self._session.get(f"tasks/{self.id}")
        return self

    @classmethod
    def current_task(cls) -> Task | None:
        return cls._current

    def get_logger(self) -> Logger:
        if self._logger is None:
            # a task looked up with get_task: report into it on demand
            self._reporter = Reporter(self._session, self.id,
                                      spool_dir=_context.home() / "spool")
            self._reporter.start()
            self._logger = Logger(self, self._reporter)
        return self._logger

    @property
    def logger(self) -> Logger:
        return self.get_logger()

    def get_output_log_web_page(self) -> str:
        return f"{self._session.host}/tasks/{self.id}"

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
        session = _context.session()
        if task_id:
            return cls(session, session.get(f"tasks/{task_id}"))
        if not task_name and not project_name:
            raise InvalidInput("get_task needs task_id, or project_name and/or task_name")
        params: dict[str, Any] = {"limit": 200, "sort": "-created_at",
                                  "include_subprojects": False}
        if project_name:
            params["project"] = project_name
        if task_name:
            params["name"] = task_name
        if tags:
            params["tag"] = tags
        if allow_archived:
            params["include_archived"] = True
        page = session.get("tasks", **params)
        while True:  # "name" matches parts of names: look on until the exact name shows up
            matches = [t for t in page["items"] if task_name is None or t["name"] == task_name]
            if matches or not page.get("next_cursor"):
                break
            page = session.get("tasks", cursor=page["next_cursor"], **params)
        if not matches:
            raise NotFound(f"no task named {task_name!r} in project {project_name!r}")
        return cls(session, session.get(f"tasks/{matches[0]['id']}"))

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
        session = _context.session()
        if task_ids:
            return [cls(session, session.get(f"tasks/{tid}")) for tid in task_ids]
        flt = dict(task_filter or {})
        statuses = status or flt.get("status") or []
        params: dict[str, Any] = {
            "project": project_name,
            "name_regex": task_name,
            "tag": list(tags or flt.get("tags") or []),
            "status": [statuses] if isinstance(statuses, str) else list(statuses),
            "sort": flt.get("order_by") or "-created_at",
            "limit": 500,
        }
        if allow_archived:
            params["include_archived"] = True
        out: list[Task] = []
        cursor = None
        while True:
            page = session.get("tasks", cursor=cursor, **params)
            out.extend(cls(session, t) for t in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    # ---- parameters --------------------------------------------------------------------------
    def connect(self, mutable: Any, name: str | None = None) -> Any:
        """Record ``mutable``'s values as hyperparameters and return it with the values the
        server holds. Dicts (nested keys become "a/b"), argparse namespaces (section "Args")
        and plain objects (their public attributes) are supported."""
        if isinstance(mutable, argparse.Namespace):
            values = dict(vars(mutable))
            self._connect_values(name or "Args", values)
            for key, value in values.items():
                setattr(mutable, key, value)
            return mutable
        if isinstance(mutable, dict):
            flat = _params.flatten(mutable)
            merged = self._connect_values(name or "General", dict(flat))
            for key, value in merged.items():
                if flat.get(key) is not value:
                    _params.update_nested(mutable, key, value)
            return mutable
        if isinstance(mutable, list | tuple | str | int | float):
            raise InvalidInput("connect takes a dict, an argparse namespace or an object")
        attrs = {k: v for k, v in vars(mutable).items()
                 if not k.startswith("_") and not callable(v)}
        merged = self._connect_values(name or "General", attrs)
        for key, value in merged.items():
            setattr(mutable, key, value)
        return mutable

    def _connect_values(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        remote = self._remote_values
        if remote is not None:
            for key, original in list(values.items()):
                stored = remote.get(f"{section}/{key}")
                if stored is not None:
                    values[key] = _params.cast(stored, _params.type_name(original), None)
        body = [
            {"section": section, "name": key, "value": _params.to_text(v),
             "type": _params.type_name(v)}
            for key, v in values.items()
        ]
        if body:
            self._session.put(f"tasks/{self.id}/params", {"params": body})
        return values

    def _on_argparse(self, args: dict[str, Any]) -> dict[str, Any] | None:
        clean = _plain_args(args)
        before = dict(clean)
        merged = self._connect_values("Args", clean)
        overrides = {k: v for k, v in merged.items() if before.get(k) != v}
        return overrides or None

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Set "Section/name" parameters (a name without section goes to "General")."""
        values: dict[str, Any] = {}
        for arg in args:
            values.update(arg)
        values.update(kwargs)
        body = []
        for key, value in values.items():
            section, _, pname = key.partition("/") if "/" in key else ("General", "", key)
            body.append({"section": section, "name": pname, "value": _params.to_text(value),
                         "type": _params.type_name(value)})
        self._session.put(f"tasks/{self.id}/params", {"params": body})

    set_parameters_as_dict = set_parameters

    def set_parameter(self, name: str, value: Any, description: str | None = None,
                      value_type: Any = None) -> None:
        self.set_parameters({name: value})

    def _param_list(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._session.get(f"tasks/{self.id}/params")
        return result

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = False
                       ) -> dict[str, Any]:
        """Every parameter as ``{"Section/name": value}`` (strings unless ``cast``)."""
        return {
            f"{p['section']}/{p['name']}": (_params.cast(p["value"], p["type"]) if cast
                                            else p["value"])
            for p in self._param_list()
        }

    def get_parameter(self, name: str, default: Any = None, cast: bool = False) -> Any:
        return self.get_parameters(cast=cast).get(name, default)

    def get_parameters_as_dict(self, cast: bool = False) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, value in self.get_parameters(cast=cast).items():
            section, _, pname = key.partition("/")
            out.setdefault(section, {})[pname] = value
        return out

    def delete_parameter(self, name: str) -> bool:
        self._session.post(f"tasks/{self.id}/params/delete", {"keys": [name]})
        return True

    # ---- configuration objects -------------------------------------------------------------
    def connect_configuration(
        self, configuration: Any, name: str | None = None, description: str | None = None
    ) -> Any:
        """Store a configuration object (dict, text, or a file path) and return it, or the
        server's version of it when an agent runs the task."""
        name = name or "General"
        remote = None
        if self._remote_values is not None:
            remote = {c["name"]: c for c in self._session.get(f"tasks/{self.id}/configurations")
                      }.get(name)
        if isinstance(configuration, dict):
            if remote is not None and remote["type"] == "dictionary":
                configuration.clear()
                configuration.update(json.loads(remote["value"]))
                return configuration
            item = {"name": name, "type": "dictionary",
                    "value": json.dumps(configuration, default=str, indent=2)}
        elif isinstance(configuration, str | Path) and Path(configuration).is_file():
            path = Path(configuration)
            if remote is not None:
                local = _context.home() / "cache" / "config" / self.id / path.name
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_text(remote["value"])
                return local if isinstance(configuration, Path) else str(local)
            item = {"name": name, "type": path.suffix.lstrip(".") or "text",
                    "value": path.read_text(errors="replace")}
        elif isinstance(configuration, str):
            if remote is not None:
                return remote["value"]
            item = {"name": name, "type": "text", "value": configuration}
        else:
            raise InvalidInput("connect_configuration takes a dict, a text or a file path")
        if description:
            item["description"] = description
        self._session.put(f"tasks/{self.id}/configurations", {"items": [item]})
        return configuration

    def get_configuration_object(self, name: str) -> str | None:
        for item in self._session.get(f"tasks/{self.id}/configurations"):
            if item["name"] == name:
                return str(item["value"])
        return None

    def get_configuration_object_as_dict(self, name: str) -> Any:
        text = self.get_configuration_object(name)
        return None if text is None else json.loads(text)

    def set_configuration_object(self, name: str, config_text: str | None = None,
                                 description: str | None = None, config_type: str | None = None,
                                 config_dict: dict[str, Any] | None = None) -> None:
        value = json.dumps(config_dict) if config_dict is not None else (config_text or "")
        item = {"name": name, "type": config_type or ("dictionary" if config_dict else "text"),
                "value": value, "description": description or ""}
        self._session.put(f"tasks/{self.id}/configurations", {"items": [item]})

    # ---- properties, tags, comment -------------------------------------------------------
    def _patch(self, body: dict[str, Any]) -> None:
        self._info.update(self._session.patch(f"tasks/{self.id}", body) or {})

    def set_user_properties(self, *iterables: Any, **properties: Any) -> bool:
        values: dict[str, Any] = {}
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

    rename = set_name

    # ---- artifacts -------------------------------------------------------------------------
    def upload_artifact(
        self,
        name: str,
        artifact_object: Any,
        metadata: dict[str, Any] | None = None,
        delete_after_upload: bool = False,
        auto_pickle: bool = True,
        preview: Any = None,
        wait_on_upload: bool = False,
        **_: Any,
    ) -> bool:
        """Store an object as an artifact: numpy array, pandas frame, PIL image, dict/list,
        a file or folder path, text; other objects are pickled unless ``auto_pickle=False``.
        The upload finishes before this returns."""
        info = upload_artifact(self._session, self.id, name, artifact_object,
                               metadata=metadata, auto_pickle=auto_pickle,
                               preview=None if preview is None else str(preview))
        if delete_after_upload and isinstance(artifact_object, str | Path):
            path = Path(artifact_object)
            if path.is_file():
                path.unlink()
        return bool(info)

    @property
    def artifacts(self) -> dict[str, Artifact]:
        rows = self._session.get(f"tasks/{self.id}/artifacts")
        return {r["name"]: Artifact(self._session, r) for r in rows}

    # ---- reading what was reported ---------------------------------------------------------
    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{title: {series: {"last", "min", "max"}}}``."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for m in self._session.get(f"tasks/{self.id}/metrics"):
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
        params: dict[str, Any] = {"timestamps": x_axis != "iter"}
        if max_samples:
            params["max_points"] = max_samples
        out: dict[str, dict[str, dict[str, list[float]]]] = {}
        for s in self._session.get(f"tasks/{self.id}/scalars", **params):
            xs = s["x"] if x_axis == "iter" else s["timestamps"]
            out.setdefault(s["metric"], {})[s["variant"]] = {
                "x": xs,
                "y": [v if isinstance(v, float | int) else decode_float(v) for v in s["y"]],
            }
        return out

    def get_reported_single_values(self) -> dict[str, float]:
        return {v["name"]: decode_float(v["value"])
                for v in self._session.get(f"tasks/{self.id}/single_values")}

    def get_reported_plots(self, max_iterations: int | None = None) -> list[dict[str, Any]]:
        plots: list[dict[str, Any]] = self._session.get(f"tasks/{self.id}/plots")
        return plots

    def get_debug_samples(self, title: str | None = None) -> list[dict[str, Any]]:
        samples: list[dict[str, Any]] = self._session.get(f"tasks/{self.id}/debug_samples",
                                                          metric=title)
        return samples

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The last ``number_of_reports`` console lines, oldest first."""
        lines = self._session.get(f"tasks/{self.id}/console", limit=max(1, number_of_reports),
                                  tail=True)
        return [line["text"] for line in lines]

    # ---- lifecycle ---------------------------------------------------------------------------
    def flush(self, wait_for_uploads: bool = False, timeout: float | None = None) -> bool:
        """Send everything reported so far; with ``wait_for_uploads`` return once stored."""
        if self._console is not None:
            self._console.flush_partial()
        if self._reporter is None:
            return True
        return self._reporter.flush(wait=wait_for_uploads, timeout=timeout)

    def _set_status(self, status: TaskStatus, message: str = "", force: bool = False) -> None:
        self._info.update(self._session.post(
            f"tasks/{self.id}/status",
            {"status": status.value, "message": message[-4000:], "force": force},
        ))

    def mark_started(self, force: bool = False) -> None:
        self._set_status(TaskStatus.in_progress, force=force)

    def mark_completed(self, ignore_errors: bool = True, status_message: str | None = None,
                       force: bool = False) -> None:
        """Flush what was reported, then mark the task completed."""
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.completed, status_message or "", force)

    def mark_failed(self, ignore_errors: bool = True, status_reason: str | None = None,
                    status_message: str | None = None, force: bool = False) -> None:
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.failed, status_message or status_reason or "", force)

    def mark_stopped(self, force: bool = False, status_message: str | None = None) -> None:
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.stopped, status_message or "", force)

    def publish(self) -> None:
        self._set_status(TaskStatus.published)

    def reset(self, force: bool = False) -> None:
        self._set_status(TaskStatus.created, force=force)

    def set_archived(self, archived: bool = True) -> None:
        self._info.update(self._session.post(f"tasks/{self.id}/archive", {"archived": archived}))

    def delete(self, force: bool = False) -> None:
        self._session.delete(f"tasks/{self.id}", force=force or None)

    @classmethod
    def clone(cls, source_task: Task | str, name: str | None = None,
              parent: str | None = None, project: str | None = None) -> Task:
        """A draft copy of the task's inputs (parameters, configuration, script)."""
        session = _context.session()
        tid = source_task.id if isinstance(source_task, Task) else source_task
        info = session.post(f"tasks/{tid}/clone",
                            {"name": name, "parent_id": parent, "project": project})
        return cls(session, info)

    # ---- remote execution ----------------------------------------------------------------
    @classmethod
    def enqueue(cls, task: Task | str, queue_name: str | None = None, queue_id: str | None = None,
                priority: int = 0, max_retries: int | None = None) -> Task:
        """Put a draft task in a queue; an agent serving the queue will run it."""
        session = _context.session()
        tid = task.id if isinstance(task, Task) else task
        body: dict[str, Any] = {"queue": queue_name or queue_id or "default",
                                "priority": priority}
        if max_retries is not None:
            body["max_retries"] = max_retries
        return cls(session, session.post(f"tasks/{tid}/enqueue", body))

    @classmethod
    def dequeue(cls, task: Task | str) -> Task:
        """Take a queued task out of its queue (back to draft)."""
        session = _context.session()
        tid = task.id if isinstance(task, Task) else task
        return cls(session, session.post(f"tasks/{tid}/dequeue", {}))

    def abort(self, message: str = "aborted") -> str:
        """Stop the task: at once if queued, through its agent if running."""
        state: str = self._session.post(f"tasks/{self.id}/abort", {"message": message})["state"]
        self.reload()
        return state

    @staticmethod
    def running_remotely() -> bool:
        return bool(os.environ.get("ARNO_TASK_ID"))

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
        if clone:
            copy = Task.clone(self, name=self.name)
            return Task.enqueue(copy, queue_name)
        self._set_status(TaskStatus.stopped, "sent to a queue", force=True)
        self._set_status(TaskStatus.created, force=True)
        self._session.post(f"tasks/{self.id}/events/reset", {})
        queued = Task.enqueue(self, queue_name)
        self._info = queued._info
        if exit_process:
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
        task_type: str | TaskType = TaskType.training,
        repo: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        script: str | None = None,
        working_directory: str | None = None,
        packages: list[str] | bool | None = None,
        requirements_file: str | Path | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        argparse_args: list[tuple[str, Any]] | None = None,
        add_task_init_call: bool = True,
        **_: Any,
    ) -> Task:
        """A draft task that runs ``script`` (from ``repo`` at ``branch``/``commit``, or the
        local file's text when there is no repository); nothing runs until it is enqueued."""
        if not project_name or not task_name:
            raise InvalidInput("Task.create needs project_name and task_name")
        session = _context.session()
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
        body = {
            "project": project_name, "name": task_name, "type": TaskType(task_type).value,
            "status": TaskStatus.created.value,
            "script": {k: v for k, v in info.items() if v is not None},
            "runtime": runtime,
            "hyperparams": [
                {"section": "Args", "name": k.lstrip("-"), "value": _params.to_text(v),
                 "type": _params.type_name(v)}
                for k, v in (argparse_args or [])
            ],
        }
        return cls(session, session.post("tasks", body))

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
        if self._reporter is not None:
            self._reporter.close()
        if self._orphans is not None:
            self._orphans.join(timeout=ORPHAN_WAIT)
        if self._attached and self.status == TaskStatus.in_progress and not self._under_agent():
            try:
                self._set_status(TaskStatus.completed)
            except ArnoError:
                pass
        if self._orig_excepthook is not None and sys.excepthook == self._excepthook:
            sys.excepthook = self._orig_excepthook
        if self._orig_exit is not None and sys.exit == self._exit:
            sys.exit = self._orig_exit
        if Task._current is self:
            Task._current = None
        if self._session.offline:
            path = self._session.package()
            print(f"arno: offline task recorded in {path}; upload it with "
                  f"`arno task import {path}`", file=sys.__stderr__)

    def _under_agent(self) -> bool:
        """An agent runs us: it sends our last console lines, then ends the task by our exit
        code, so the task is not marked completed from here."""
        return (os.environ.get("ARNO_AGENT_CONSOLE") == "1"
                and os.environ.get("ARNO_TASK_ID") == self.id)

    def _exit(self, code: str | int | None = None) -> NoReturn:
        self._exit_code = code
        self._orig_exit(code)
        raise SystemExit(code)  # not reached: the original raises it

    def _at_exit(self) -> None:
        try:
            code = self._exit_code
            if (code not in (None, 0) and self._attached and not self._closed
                    and self.status == TaskStatus.in_progress):
                try:
                    self.flush(wait_for_uploads=True, timeout=30)
                    self._set_status(TaskStatus.failed, f"exit code {code}" if isinstance(
                        code, int) else f"exit code 1: {code}")
                except ArnoError:
                    pass
            self.close()
        except Exception:  # noqa: BLE001 - never turn a clean exit into a crash
            traceback.print_exc(file=sys.__stderr__)

    def _excepthook(self, exc_type: type[BaseException], exc: BaseException,
                    tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        if self._orig_excepthook is not None:
            self._orig_excepthook(exc_type, exc, tb)  # prints it: captured by the console tee
        if self._attached and not self._closed and not issubclass(exc_type, KeyboardInterrupt):
            try:
                if self._console is not None:
                    self._console.flush_partial()
                self.flush(wait_for_uploads=True, timeout=30)
                self._set_status(TaskStatus.failed, text)
            except ArnoError:
                pass
        elif issubclass(exc_type, KeyboardInterrupt) and not self._closed:
            try:
                self.flush(wait_for_uploads=True, timeout=30)
                self._set_status(TaskStatus.stopped, "interrupted")
            except ArnoError:
                pass
        self.close()

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _attach_source(script: dict[str, Any]) -> None:
    """Without a repository an agent can only rerun the script from its recorded text."""
    entry = script.get("entry_point")
    if script.get("repository") or not entry or entry.startswith("<"):
        return
    path = Path(script.get("working_dir") or ".") / entry
    if not path.is_absolute():
        path = Path.cwd() / entry
    try:
        if path.is_file() and path.stat().st_size <= 1 << 20:
            script["source"] = path.read_text(errors="replace")
    except OSError:
        pass


def _plain_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, str | int | float | bool | list | type(None)) else str(v))
            for k, v in args.items()}


_early_parse_seen = False


def _early_argparse(args: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments parsed while no task is running (often before ``Task.init``): remembered for
    the next ``Task.init``, and under an agent overridden at once by the server's "Args"."""
    global _early_parse_seen
    _early_parse_seen = True
    task_id = os.environ.get("ARNO_TASK_ID")
    if not task_id:
        return None
    try:
        params = _context.session().get(f"tasks/{task_id}/params")
    except ArnoError:
        return None
    plain = _plain_args(args)
    return {
        p["name"]: p["value"]
        for p in params
        if p["section"] == "Args" and p["name"] in args
        and p["value"] != _params.to_text(plain[p["name"]])
    } or None


def install_argparse_hook() -> None:
    """Watch argparse from the moment the SDK is imported, as users expect."""
    _environment.patch_argparse(_early_argparse)

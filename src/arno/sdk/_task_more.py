"""The rest of ClearML's ``Task`` surface, as a mixin of :class:`arno.sdk.Task`: lookups
(``get_all``, ``query_tasks``, ``get_by_name``, projects, queues), state around a run (progress,
stop requests, abort callbacks, ``wait_for_status``), where the task runs (script, packages,
container), label enumeration, offline mode and upload destinations.

Where ClearML keeps a field Arno's task record has no column for, it lives in the task's
``runtime`` (a JSON object the server merges key by key):

- ``runtime.progress``: 0-100 (``set_progress``);
- ``runtime.system_tags``: ClearML's system tags (Arno's server has none of its own);
- ``runtime.queue``: the queue the task was last sent to (``get_executed_queue``);
- ``runtime.container``: ``{"image", "arguments", "setup_script"}`` (``set_base_docker``);
- ``runtime.publish_on_completion``: publish when the task completes.

Label enumeration is the configuration object ``"Labels"`` (``{label: number}``), so it shows
with the task's configuration and an agent's run takes the server's version like any other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from arno.client._tasks import TaskClient
from arno.core.errors import ArnoError, Conflict, InvalidInput, NotFound
from arno.core.status import TaskStatus
from arno.sdk import _context

LABELS = "Labels"
"""The configuration object holding the label enumeration."""
ABORT_POLL = 2.0
"""Seconds between checks for a stop request by ``register_abort_callback``'s watcher."""
DEFAULT_SEED = 1337
"""ClearML's fixed seed, used by ``Task.init`` unless ``set_random_seed`` says otherwise."""

_seed: int | None = DEFAULT_SEED
_offline_mode = False
_store_standalone = False
_monitor_timeouts: dict[str, float] = {}


def seed_now() -> int | None:
    """Seed ``random`` (and numpy and torch, if the script imported them) with the seed set by
    ``Task.set_random_seed`` (1337 by default; None leaves them alone)."""
    import random
    import sys

    if _seed is None:
        return None
    random.seed(_seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(_seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(_seed)
    return _seed


def offline_default() -> bool:
    return _offline_mode


def standalone_script() -> bool:
    return _store_standalone


def as_standalone(script: dict[str, Any], capture: Any) -> dict[str, Any]:
    """With ``force_store_standalone_script``: the script's own text instead of its git
    reference, so an agent runs this file as it is here."""
    from arno.sdk._environment import _read_source

    path = getattr(capture, "_script", None)
    if not _store_standalone or not path or not script.get("repository"):
        return script
    source = _read_source(str(path))
    if source is None:
        return script
    out = {k: v for k, v in script.items()
           if k not in ("repository", "branch", "commit", "diff")}
    out.update(source=source, entry_point=Path(str(path)).name, working_dir=".")
    return out


_FIELDS = ("name", "type", "tags", "comment", "script", "user_properties", "runtime")
"""The fields of ``export_task()``'s dict that ``import_task``/``update_task`` write."""


def _new(cls: Any, session: Any, info: dict[str, Any]) -> Any:
    """A ``Task`` (``cls``) over a record."""
    return cls(session, info)


def _client() -> TaskClient:
    return TaskClient(_context.session())


def _project_name(client: TaskClient, project_id: str | None, project_name: str | None) -> str:
    if project_name:
        return project_name
    if not project_id:
        raise InvalidInput("give a project id or a project name")
    return str(client.project(project_id)["name"])


def _listing(project_name: str | None, task_name: str | None, tags: Sequence[str] | None,
             task_filter: dict[str, Any] | None) -> dict[str, Any]:
    """ClearML's filter keys as Arno's ``GET /tasks`` query."""
    flt = dict(task_filter or {})
    status = flt.get("status") or []
    types = flt.get("type") or []
    order = flt.get("order_by") or ["-created_at"]
    projects = flt.get("project") or []
    if isinstance(projects, str):
        projects = [projects]
    if len(projects) > 1:
        raise InvalidInput("task_filter 'project' takes one project here")
    return {
        "project": project_name or (projects[0] if projects else None),
        "name_regex": task_name or flt.get("name"),
        "tag": list(tags or flt.get("tags") or []) or None,
        "status": [status] if isinstance(status, str) else list(status),
        "type": [types] if isinstance(types, str) else list(types),
        "sort": [order] if isinstance(order, str) else list(order),
        "include_archived": None if flt.get("system_tags") == ["-archived"] else True,
        "limit": min(int(flt.get("page_size") or 500), 500),
    }


class TaskMore:
    """Mixed into ``Task``; uses its ``_client``, ``_info``, ``_session`` and ``_patch``."""

    _client: TaskClient
    _info: dict[str, Any]
    _session: Any
    _monitor: Any
    _abort_watch: threading.Thread | None = None

    class DeleteError(Conflict):
        """A task could not be deleted (``Task.delete(raise_on_error=True)``)."""

    # the Task methods this mixin calls
    id: Any
    reload: Any
    _patch: Any
    connect_configuration: Any
    set_configuration_object: Any
    get_configuration_object_as_dict: Any
    get_task: Any

    # ---- lookups -------------------------------------------------------------------------
    @classmethod
    def get_all(cls, session: Any = None, log: Any = None, **kwargs: Any) -> list[Any]:
        """Tasks matching ClearML's backend filter keys (``project``, ``name``, ``status``,
        ``tags``, ``type``, ``order_by``, ``page_size``, or ``id`` for a list of ids)."""
        client = TaskClient(session or _context.session())
        if kwargs.get("id"):
            ids = kwargs["id"]
            return [_new(cls, client.session, client.get(i)) for i in ([ids] if isinstance(ids, str)
                                                                  else ids)]
        query = _listing(None, None, None, kwargs)
        return [_new(cls, client.session, row) for row in client.iterate(**query)]

    @classmethod
    def query_tasks(cls, project_name: str | None = None, task_name: str | None = None,
                    tags: Sequence[str] | None = None,
                    additional_return_fields: Sequence[str] | None = None,
                    task_filter: dict[str, Any] | None = None) -> list[Any]:
        """Ids of the tasks matching; with ``additional_return_fields`` a dict per task with
        ``id`` and those fields. ``task_name`` is a regular expression."""
        client = _client()
        rows = client.iterate(**_listing(project_name, task_name, tags, task_filter))
        if not additional_return_fields:
            return [row["id"] for row in rows]
        fields = list(additional_return_fields)
        return [{"id": row["id"], **{f: row.get(f) for f in fields}} for row in rows]

    @classmethod
    def get_by_name(cls, task_name: str) -> Any:
        """The newest task with exactly this name, in any project. Raises ``NotFound``."""
        client = _client()
        for row in client.iterate(name=task_name, sort="-created_at", limit=200,
                                  include_archived=True):
            if row["name"] == task_name:
                return _new(cls, client.session, client.get(row["id"]))
        raise NotFound(f"no task named {task_name!r}")

    @classmethod
    def get_projects(cls, **kwargs: Any) -> list[dict[str, Any]]:
        """Every project, as dicts; keyword arguments keep those whose field equals the
        value (e.g. ``name="examples"``)."""
        return [p for p in _client().projects()
                if all(p.get(k) == v for k, v in kwargs.items())]

    @classmethod
    def get_project_id(cls, project_name: str, search_hidden: bool = True) -> str | None:
        """The id of the project of that name, or None when there is none."""
        try:
            return str(_client().project(project_name)["id"])
        except NotFound:
            return None

    def get_project_object(self) -> dict[str, Any]:
        return self._client.project(str(self._info["project_id"]))

    @classmethod
    def get_num_enqueued_tasks(cls, queue_name: str | None = None,
                               queue_id: str | None = None) -> int:
        if not queue_name and not queue_id:
            raise InvalidInput("get_num_enqueued_tasks needs queue_name or queue_id")
        return int(_client().queue(str(queue_id or queue_name))["length"])

    @classmethod
    def get_task_output_log_web_page(cls, task_id: str, project_id: str | None = None,
                                     app_server_host: str | None = None) -> str:
        host = app_server_host or _context.config().host or ""
        return f"{host.rstrip('/')}/tasks/{task_id}"

    def get_executed_queue(self, return_name: bool = False) -> str | None:
        """The queue the task was last sent to (its id, or its name with ``return_name``)."""
        ref = (self.reload()._info.get("runtime") or {}).get("queue")
        if not ref:
            return None
        queue = self._client.queue(str(ref))
        return str(queue["name"] if return_name else queue["id"])

    @property
    def last_worker(self) -> str | None:
        """The worker running the task now, or the last one recorded on it."""
        for worker in self._client.workers():
            if self.id in worker.get("task_ids", []):
                return str(worker["id"])
        value = (self._info.get("runtime") or {}).get("worker")
        return str(value) if value else None

    # ---- state ---------------------------------------------------------------------------
    def get_status_message(self) -> str:
        return str(self.reload()._info.get("status_message") or "")

    def set_progress(self, progress: int) -> None:
        """0 to 100, shown with the task."""
        if isinstance(progress, bool) or not isinstance(progress, int | float):
            raise InvalidInput(f"progress is a number from 0 to 100, got {progress!r}")
        self._patch({"runtime": {"progress": max(0, min(100, int(progress)))}})

    def get_progress(self) -> int | None:
        value = (self.reload()._info.get("runtime") or {}).get("progress")
        return None if value is None else int(value)

    def stop_request(self, ignore_errors: bool = True, force: bool = False,
                     status_message: str | None = None) -> None:
        """Ask the server to stop the task: a queued task leaves its queue, a running one is
        stopped by its agent (or at once when no agent runs it)."""
        try:
            self._client.abort(self.id, status_message or "stop requested")
        except ArnoError:
            if not ignore_errors:
                raise
        self.reload()

    def mark_stop_request(self, force: bool = False, status_message: str | None = None) -> None:
        self.stop_request(ignore_errors=False, force=force, status_message=status_message)

    def register_abort_callback(self, callback_function: Callable[[], Any] | None,
                                callback_execution_timeout: float = 30.0) -> None:
        """Call ``callback_function`` once when the task is asked to stop (aborted in the UI,
        ``stop_request``, or stopped by an agent). A thread polls the task every few seconds;
        the callback runs there, given ``callback_execution_timeout`` seconds. None removes
        it."""
        self._abort_callback = callback_function
        self._abort_timeout = float(callback_execution_timeout)
        if callback_function is None or self._abort_watch is not None:
            return
        self._abort_watch = threading.Thread(target=self._watch_abort, daemon=True,
                                             name="arno-abort-watch")
        self._abort_watch.start()

    def _watch_abort(self) -> None:
        while True:
            time.sleep(ABORT_POLL)
            try:
                info = self._client.get(self.id)
            except ArnoError:
                continue
            message = str(info.get("status_message") or "")
            if info["status"] == TaskStatus.in_progress and "(stopping on " not in message:
                continue
            if info["status"] in (TaskStatus.in_progress, TaskStatus.stopped):
                callback = getattr(self, "_abort_callback", None)
                if callback is not None:
                    runner = threading.Thread(target=callback, daemon=True)
                    runner.start()
                    runner.join(self._abort_timeout)
            self._abort_watch = None
            return

    def wait_for_status(
        self,
        status: Iterable[str] = (TaskStatus.completed, TaskStatus.stopped, TaskStatus.published),
        raise_on_status: Iterable[str] | None = (TaskStatus.failed,),
        check_interval_sec: float = 60.0,
    ) -> None:
        """Return once the task's status is one of ``status``; raise ``Conflict`` if it
        reaches one of ``raise_on_status``. Checks every ``check_interval_sec`` seconds."""
        wanted = {str(s) for s in status}
        bad = {str(s) for s in raise_on_status or ()}
        while True:
            current = str(self.reload()._info["status"])
            if current in bad:
                raise Conflict(f"task {self.id} is {current} "
                               f"({self._info.get('status_message') or 'no message'})")
            if current in wanted:
                return
            time.sleep(max(0.05, check_interval_sec))

    def publish_on_completion(self, enable: bool = True) -> None:
        """Publish the task when it is marked completed (by ``close`` or ``mark_completed``)."""
        self._patch({"runtime": {"publish_on_completion": bool(enable)}})

    # ---- where it sits ---------------------------------------------------------------------
    def set_parent(self, parent: Any) -> None:
        parent_id = parent.id if hasattr(parent, "id") else parent
        if not parent_id:
            raise InvalidInput("set_parent needs a Task or a task id")
        self._patch({"parent_id": str(parent_id)})

    def set_project(self, project_id: str | None = None, project_name: str | None = None
                    ) -> None:
        self._patch({"project": _project_name(self._client, project_id, project_name)})

    def move_to_project(self, new_project_id: str | None = None,
                        new_project_name: str | None = None,
                        system_tags: Sequence[str] | None = None) -> bool:
        self.set_project(new_project_id, new_project_name)
        if system_tags is not None:
            self.set_system_tags(system_tags)
        return True

    def remove_tags(self, tags: str | Sequence[str]) -> None:
        gone = {tags} if isinstance(tags, str) else set(tags)
        current = list(self.reload()._info.get("tags", []))
        self._patch({"tags": [t for t in current if t not in gone]})

    def get_system_tags(self) -> list[str]:
        return list((self.reload()._info.get("runtime") or {}).get("system_tags") or [])

    def set_system_tags(self, tags: Sequence[str]) -> None:
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput("system tags are a list of strings")
        self._patch({"runtime": {"system_tags": list(dict.fromkeys(tags))}})

    # ---- what runs -----------------------------------------------------------------------
    def get_script(self) -> dict[str, Any]:
        return dict(self.reload()._info.get("script") or {})

    def set_script(self, repository: str | None = None, branch: str | None = None,
                   commit: str | None = None, diff: str | None = None,
                   working_dir: str | None = None, entry_point: str | None = None,
                   binary: str | None = None) -> None:
        """Change the script an agent runs; the fields left out stay as they are."""
        given = {"repository": repository, "branch": branch, "commit": commit, "diff": diff,
                 "working_dir": working_dir, "entry_point": entry_point, "binary": binary}
        script = {**self.get_script(), **{k: v for k, v in given.items() if v is not None}}
        self._patch({"script": script})

    def set_repo(self, repo: str | None = None, branch: str | None = None,
                 commit: str | None = None) -> None:
        self.set_script(repository=repo, branch=branch, commit=commit)

    def set_packages(self, packages: str | Path | Sequence[str]) -> None:
        """The requirements an agent installs: a list of ``name==version`` lines or the path
        of a requirements file."""
        if isinstance(packages, str | Path):
            path = Path(packages)
            if not path.is_file():
                raise InvalidInput(f"set_packages: no requirements file at {packages}")
            lines = path.read_text().splitlines()
        else:
            lines = list(packages)
        text = "\n".join(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
        self._patch({"script": {**self.get_script(), "requirements": text}})

    def get_requirements(self) -> dict[str, str]:
        """``{"pip": "<requirements lines>"}`` as ClearML's requirements dict."""
        return {"pip": str(self.get_script().get("requirements") or "")}

    def set_base_docker(self, docker_cmd: str | None = None, docker_image: str | None = None,
                        docker_arguments: str | Sequence[str] | None = None,
                        docker_setup_bash_script: str | Sequence[str] | None = None) -> None:
        """The container image (and its arguments and setup script) an agent runs the task
        in. ``docker_cmd`` is ``"image args..."`` in one string."""
        if docker_cmd:
            docker_image, _, rest = docker_cmd.strip().partition(" ")
            docker_arguments = docker_arguments or rest.strip()
        if not isinstance(docker_arguments, str | None):
            docker_arguments = " ".join(docker_arguments)
        if not isinstance(docker_setup_bash_script, str | None):
            docker_setup_bash_script = "\n".join(docker_setup_bash_script)
        container = ({"image": docker_image, "arguments": docker_arguments or "",
                      "setup_script": docker_setup_bash_script or ""} if docker_image else None)
        self._patch({"runtime": {"container": container}})

    def get_base_docker(self) -> str | None:
        container = (self.reload()._info.get("runtime") or {}).get("container") or {}
        if not container.get("image"):
            return None
        return " ".join(x for x in (container["image"], container.get("arguments")) if x)

    @classmethod
    def force_store_standalone_script(cls, force: bool = True) -> None:
        """Record the script's full text (not only its git reference) at the next init."""
        global _store_standalone
        _store_standalone = bool(force)

    # ---- labels --------------------------------------------------------------------------
    def connect_label_enumeration(self, enumeration: dict[str, int],
                                  ignore_remote_overrides: bool = False) -> dict[str, int]:
        _check_labels(enumeration)
        connect = self.connect_configuration
        result: dict[str, int] = connect(dict(enumeration), name=LABELS,
                                         ignore_remote_overrides=ignore_remote_overrides)
        return {k: int(v) for k, v in result.items()}

    def set_model_label_enumeration(self, enumeration: dict[str, int] | None = None) -> None:
        _check_labels(enumeration or {})
        self.set_configuration_object(LABELS, config_dict=dict(enumeration or {}))

    def get_labels_enumeration(self) -> dict[str, int]:
        labels = self.get_configuration_object_as_dict(LABELS) or {}
        return {k: int(v) for k, v in labels.items()}

    def get_num_of_classes(self) -> int:
        return len(set(self.get_labels_enumeration().values()))

    def get_label_num_description(self) -> dict[int, str]:
        return {v: k for k, v in self.get_labels_enumeration().items()}

    # ---- offline ---------------------------------------------------------------------------
    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Record the next ``Task.init`` on disk instead of on a server."""
        global _offline_mode
        _offline_mode = bool(offline_mode)

    @classmethod
    def is_offline(cls) -> bool:
        return _offline_mode or _context.config().offline

    def get_offline_mode_folder(self) -> Path | None:
        """The folder an offline task is recorded in (None for a task on a server)."""
        return Path(self._session.root) if self._session.offline else None

    @classmethod
    def import_offline_session(cls, session_folder_zip: str | Path,
                               previous_task_id: str | None = None,
                               iteration_offset: int = 0) -> str:
        """Upload a task recorded offline (its zip or folder); return the new task's id."""
        import tempfile

        from arno.client import import_offline_task

        if previous_task_id is not None or iteration_offset:
            raise InvalidInput("import_offline_session makes a new task; continuing an "
                               "existing one (previous_task_id, iteration_offset) is not "
                               "supported")
        source = Path(session_folder_zip)
        if source.is_dir():
            source = _zip_folder(source)
        if not source.is_file():
            raise NotFound(f"no offline session at {session_folder_zip}")
        with tempfile.TemporaryDirectory() as work:
            return import_offline_task(_context.session(), source, Path(work))

    # ---- export / import -----------------------------------------------------------------
    @classmethod
    def import_task(cls, task_data: dict[str, Any], target_task: Any = None,
                    update: bool = False) -> Any:
        """A task from ``export_task()``'s dict: a new draft, or written over ``target_task``
        (with ``update``, only the fields given change)."""
        if not isinstance(task_data, dict):
            raise InvalidInput("import_task takes the dict export_task() returns")
        if target_task is not None:
            task = target_task if isinstance(target_task, cls) else cls.get_task(target_task)
            if not update:
                task._patch({"user_properties": {}, "tags": []})
            task.update_task(task_data)
            return task
        client = _client()
        body: dict[str, Any] = {k: task_data[k] for k in _FIELDS if k in task_data}
        body["project"] = task_data.get("project") or "imported"
        body["name"] = body.get("name") or "imported task"
        body["hyperparams"] = task_data.get("hyperparams") or []
        body["status"] = TaskStatus.created.value
        task = _new(cls, client.session, client.create(body))
        if task_data.get("configurations"):
            client.set_configurations(task.id, task_data["configurations"])
        return task

    def update_task(self, task_data: dict[str, Any]) -> bool:
        """Change the fields ``task_data`` gives (as ``export_task()`` names them)."""
        if not isinstance(task_data, dict):
            raise InvalidInput("update_task takes a dict of task fields")
        body = {k: task_data[k] for k in _FIELDS if k in task_data}
        if body:
            self._patch(body)
        if task_data.get("hyperparams"):
            self._client.set_params(self.id, task_data["hyperparams"])
        if task_data.get("configurations"):
            self._client.set_configurations(self.id, task_data["configurations"])
        return True

    # ---- artifacts -----------------------------------------------------------------------
    def delete_artifacts(self, artifact_names: Sequence[str], raise_on_errors: bool = True,
                         delete_from_storage: bool = True, silent_on_errors: bool = False
                         ) -> bool:
        """Remove artifacts from the task (their bytes go when nothing else refers to
        them)."""
        ok = True
        for name in artifact_names:
            try:
                self._client.delete_artifact(self.id, name)
            except ArnoError:
                if raise_on_errors:
                    raise
                ok = False
        return ok

    def set_artifacts(self, artifacts_list: Sequence[Any] | None = None) -> list[Any]:
        """Record these artifacts (``Artifact`` objects, e.g. from another task) on this task,
        replacing those of the same name."""
        for artifact in artifacts_list or []:
            info = getattr(artifact, "_info", None)
            if not isinstance(info, dict) or "name" not in info:
                raise InvalidInput("set_artifacts takes Artifact objects (task.artifacts)")
            body = {k: info[k] for k in ("type", "mode", "file_name", "content_type", "hash",
                                         "uri", "preview", "metadata") if info.get(k) is not None}
            self._session.put(f"tasks/{self.id}/artifacts/{info['name']}", body)
        return list(artifacts_list or [])

    # ---- monitoring and uploads ----------------------------------------------------------
    @classmethod
    def set_resource_monitor_iteration_timeout(
        cls, seconds_from_start: float = 30.0,
        wait_for_first_iteration_to_start_sec: float = 180.0,
        max_wait_for_first_iteration_to_start_sec: float = 1800.0,
    ) -> bool:
        """Accepted for ClearML scripts. Arno's machine monitor always reports against seconds
        since the start, so there is no switch to iterations to time; the values are kept
        (``Task._monitor_timeouts``) and change nothing."""
        _monitor_timeouts.update(
            seconds_from_start=seconds_from_start,
            wait_for_first_iteration_to_start_sec=wait_for_first_iteration_to_start_sec,
            max_wait_for_first_iteration_to_start_sec=max_wait_for_first_iteration_to_start_sec)
        return True

    @property
    def resource_monitor(self) -> Any:
        """The machine monitor reporting CPU, memory and GPU use (None when off)."""
        return self._monitor

    @property
    def storage_uri(self) -> str | None:
        value = getattr(self, "output_uri")  # noqa: B009 - a property of Task
        return None if value is None else str(value)

    @storage_uri.setter
    def storage_uri(self, value: str | None) -> None:
        setattr(self, "output_uri", value)  # noqa: B010 - a property of Task

    def get_output_destination(self, extra_path: str | None = None, **kwargs: Any) -> str:
        """Where models and artifacts go: ``output_uri``, or the Arno server's file store."""
        base = self.storage_uri or f"{self._session.host.rstrip('/')}/api/v1/blobs"
        return f"{base.rstrip('/')}/{extra_path.lstrip('/')}" if extra_path else base

    def setup_aws_upload(self, bucket: str, subdir: str | None = None, host: str | None = None,
                         key: str | None = None, secret: str | None = None,
                         token: str | None = None, region: str | None = None,
                         multipart: bool = True, secure: bool = True, verify: bool = True,
                         profile: str | None = None) -> None:
        """Send this task's models and artifacts to ``s3://bucket/subdir``, with these
        credentials (``host`` for an S3-compatible endpoint) for this process."""
        from arno.sdk._storage.backends import register_bucket

        if not bucket:
            raise InvalidInput("setup_aws_upload needs a bucket")
        endpoint = None
        if host:
            endpoint = host if "://" in host else f"{'https' if secure else 'http'}://{host}"
        register_bucket(bucket, {"key": key, "secret": secret, "token": token,
                                 "endpoint_url": endpoint, "region": region,
                                 "profile": profile})
        self.storage_uri = f"s3://{bucket}" + (f"/{subdir.strip('/')}" if subdir else "")

    def setup_upload(self, bucket_name: str, host: str | None = None,
                     access_key: str | None = None, secret_key: str | None = None,
                     multipart: bool = True, https: bool = True, region: str | None = None,
                     verify: bool = True) -> None:
        self.setup_aws_upload(bucket_name, host=host, key=access_key, secret=secret_key,
                              region=region, multipart=multipart, secure=https, verify=verify)

    @property
    def cache_dir(self) -> Path:
        """Where the SDK keeps downloaded files."""
        return _context.home() / "cache"

    @classmethod
    def set_credentials(cls, api_host: str | None = None, web_host: str | None = None,
                        files_host: str | None = None, key: str | None = None,
                        secret: str | None = None, store_conf_file: bool = False) -> None:
        """Talk to the server at ``api_host`` with this key and secret from now on in this
        process (Arno serves the web UI and files from the same address, so ``web_host`` and
        ``files_host`` are not needed). ``store_conf_file`` writes them to the client's
        configuration file as ``arno login`` does."""
        from arno.client import ApiSession, write_config

        host = api_host or web_host or files_host or _context.config().host
        if not host or not key or not secret:
            raise InvalidInput("set_credentials needs api_host, key and secret")
        if store_conf_file:
            write_config(_context.home(), {"host": host, "access_key": key,
                                           "secret_key": secret})
        _context.set_session(ApiSession(host, key, secret))

    # ---- identity and process ------------------------------------------------------------
    @property
    def task_id(self) -> str:
        return str(self.id)

    def is_current_task(self) -> bool:
        return getattr(type(self), "_current", None) is self

    def is_main_task(self) -> bool:
        """Whether this is the task ``Task.init`` made for this process."""
        return self.is_current_task()

    @staticmethod
    def running_locally() -> bool:
        return not _context.config().under_agent

    def get_random_seed(self) -> int | None:
        return _seed

    @classmethod
    def set_random_seed(cls, random_seed: int | None) -> None:
        """The seed the next ``Task.init`` gives ``random``, numpy and torch (None: leave
        them unseeded)."""
        global _seed
        if random_seed is not None and (isinstance(random_seed, bool)
                                        or not isinstance(random_seed, int)):
            raise InvalidInput(f"random_seed is an int or None, got {random_seed!r}")
        _seed = random_seed


def _check_labels(enumeration: Any) -> None:
    if not isinstance(enumeration, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in enumeration.items()):
        raise InvalidInput("a label enumeration is a dict of {label: int}")


def _zip_folder(folder: Path) -> Path:
    import zipfile

    target = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                zf.write(item, item.relative_to(folder).as_posix())
    return target

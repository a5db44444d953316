"""``OutputModel``: a model a task creates (ClearML's names and defaults).

The record is made lazily, with every field in one request (``POST /models``), by the first
call that needs it on the server: ``update_weights``, ``update_weights_package``,
``set_metadata``, ``publish``. Until then the fields are kept here. Weights files are sent as
pieces of the content store (only pieces the server lacks travel, so a new version of a large
file sends little); with ``register_uri`` only the URI is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from arno.client._dataset_upload import UploadStats
from arno.core.errors import InvalidInput
from arno.sdk import _context
from arno.sdk._model_base import (
    BaseModel,
    check_labels,
    design_dict,
    design_text,
    log,
    meta_entry,
)

if TYPE_CHECKING:
    from arno.sdk._task import Task

REMOTE_SCHEMES = ("s3", "gs", "azure")
"""An ``upload_uri`` with one of these sends the file there and registers its URI; anything
else (None, the Arno server) stores the weights in Arno."""


class OutputModel(BaseModel):
    """A model the task ``task`` (default: the current task) creates."""

    _default_upload_uri: str | None = None

    def __init__(self, task: Task | None = None, config_text: str | None = None,
                 config_dict: dict[str, Any] | None = None,
                 label_enumeration: Mapping[str, int] | None = None, name: str | None = None,
                 tags: list[str] | None = None, comment: str | None = None,
                 framework: str | None = None, base_model_id: str | None = None) -> None:
        if task is None:
            from arno.sdk._task import Task

            task = Task.current_task()
        self._task = task
        self._session = task._session if task is not None else _context.session()
        self._info = {}
        self._upload_uri: str | None = None
        self.last_upload = UploadStats()
        """What the last weights upload sent (pieces, packs, bytes)."""
        labels = check_labels(label_enumeration) if label_enumeration is not None else None
        self._pending: dict[str, Any] = {
            "name": name or (task.name if task is not None else "Output Model"),
            "framework": str(getattr(framework, "value", framework) or ""),
            "tags": list(tags or []), "comment": comment or "", "labels": labels,
            "design": design_text(config_text, config_dict) or "", "metadata": {},
        }
        if base_model_id:
            self._pending["parent_id"] = base_model_id

    # ---- the record ------------------------------------------------------------------------
    @property
    def created(self) -> bool:
        return bool(self._info)

    def _record(self) -> dict[str, Any]:
        return self._info or {**self._pending, "published": False, "archived": False,
                              "uri": "", "task_id": self._task.id if self._task else None}

    def _create(self, weights: dict[str, Any] | None = None) -> None:
        """Make the record: every field (and the weights, when given) in one request."""
        body = dict(self._pending)
        if body["labels"] is None:
            body["labels"] = self._pending["labels"] = _task_labels(self._task)
        if self._task is not None:
            body["task_id"] = self._task.id
        else:
            raise InvalidInput("an OutputModel belongs to a task: call Task.init first or "
                               "pass task=")
        if weights is not None:
            body["weights"] = weights
        self._info = self._client().create(body)

    def _change(self, body: dict[str, Any]) -> None:
        if not self.created:
            for key, value in body.items():
                if key == "metadata_set":
                    self._pending["metadata"].update(value)
                else:
                    self._pending[key] = value
            return
        super()._change(body)

    def _ensure(self) -> None:
        if not self.created:
            self._create()

    @property
    def id(self) -> str:
        """The model's id (the record is made by this first call when it does not exist)."""
        self._ensure()
        return super().id

    @property
    def task(self) -> str | None:
        return self._task.id if self._task is not None else None

    @property
    def config_text(self) -> str:
        return super().config_text

    @config_text.setter
    def config_text(self, value: str) -> None:
        self.update_design(config_text=value)

    @property
    def config_dict(self) -> dict[str, Any]:
        return design_dict(self.config_text)

    @config_dict.setter
    def config_dict(self, value: dict[str, Any]) -> None:
        self.update_design(config_dict=value)

    @property
    def labels(self) -> dict[str, int]:
        if not self.created and self._pending["labels"] is None:
            self._pending["labels"] = _task_labels(self._task)
        return super().labels

    @labels.setter
    def labels(self, value: Mapping[str, int]) -> None:
        self.update_labels(value)

    @property
    def upload_storage_uri(self) -> str | None:
        return self._upload_uri or self._default_upload_uri

    def set_upload_destination(self, uri: str) -> None:
        """Send weights files to ``uri`` (s3://, gs://, azure://) and register them there;
        None or the Arno server: store them in Arno."""
        self._upload_uri = uri

    @classmethod
    def set_default_upload_uri(cls, output_uri: str | None) -> None:
        cls._default_upload_uri = output_uri

    @classmethod
    def wait_for_uploads(cls, timeout: float | None = None,
                         max_num_uploads: int | None = None) -> None:
        """Uploads complete before ``update_weights`` returns: nothing to wait for."""

    # ---- fields ----------------------------------------------------------------------------
    def update_labels(self, labels: Mapping[str, int]) -> Any:
        self._change({"labels": check_labels(labels)})

    def update_design(self, config_text: str | None = None,
                      config_dict: dict[str, Any] | None = None) -> bool:
        text = design_text(config_text, config_dict)
        self._change({"design": text or ""})
        return True

    def set_metadata(self, key: str, value: str, v_type: str | None = None) -> bool:
        entry = meta_entry(key, value, v_type)
        if not self.created:
            self._pending["metadata"][key] = entry
            self._create()
            return True
        self._change({"metadata_set": {key: entry}})
        return True

    def set_all_metadata(self, metadata: dict[str, dict[str, str]], replace: bool = True
                         ) -> bool:
        self._ensure()
        return super().set_all_metadata(metadata, replace)

    def publish(self) -> None:
        self._ensure()
        super().publish()

    def archive(self) -> None:
        self._ensure()
        super().archive()

    def unarchive(self) -> None:
        self._ensure()
        super().unarchive()

    def connect(self, task: Task, name: str | None = None, **kwargs: Any) -> None:
        """Make ``task`` the model's creating task (before the record exists); ``name``
        renames the model."""
        if not self.created:
            self._task = task
            self._session = task._session
        elif self._info.get("task_id") != task.id:
            log.warning("arno: model %s already belongs to task %s", self.id,
                        self._info.get("task_id"))
        if name:
            self._change({"name": name})

    # ---- weights ---------------------------------------------------------------------------
    def update_weights(self, weights_filename: str | None = None, upload_uri: str | None = None,
                       target_filename: str | None = None, auto_delete_file: bool = True,
                       register_uri: str | None = None, iteration: int | None = None,
                       update_comment: bool = True, is_package: bool = False,
                       async_enable: bool = True) -> str:
        """Store ``weights_filename`` (as ``target_filename``) as the model's weights, or
        register ``register_uri`` (s3, gs, azure, http(s); no bytes sent). Returns the
        weights' URI. ``auto_delete_file`` removes the local file once stored. The upload is
        done when this returns, whatever ``async_enable`` says."""
        if (weights_filename is None) == (register_uri is None):
            raise InvalidInput("update_weights takes weights_filename or register_uri "
                               "(exactly one)")
        if register_uri is not None:
            return self._set_weights({"uri": register_uri, "iteration": iteration,
                                      "package": bool(is_package)})
        local = Path(weights_filename).expanduser()  # type: ignore[arg-type]
        if not local.is_file():
            raise InvalidInput(f"weights file not found: {local}")
        name = target_filename or local.name
        remote = upload_uri or self.upload_storage_uri
        if remote and urlsplit(remote).scheme.lower() in REMOTE_SCHEMES:
            uri = self._upload_elsewhere(local, remote.rstrip("/") + "/" + name)
            out = self._set_weights({"uri": uri, "iteration": iteration,
                                     "package": bool(is_package)})
        else:
            out = self._store([(str(local), name)], iteration, package=bool(is_package))
        if auto_delete_file:
            _delete(local)
        return out

    def update_weights_package(self, weights_filenames: Sequence[str] | None = None,
                               weights_path: str | None = None, upload_uri: str | None = None,
                               target_filename: str | None = None,
                               auto_delete_file: bool = True, iteration: int | None = None,
                               async_enable: bool = True) -> str:
        """Store several files as one package: every file under the folder ``weights_path``
        (paths kept), or the files ``weights_filenames`` (by their names). Returns the URI."""
        from arno.client._model_weights import package_files

        if (weights_filenames is None) == (weights_path is None):
            raise InvalidInput("update_weights_package takes weights_filenames or "
                               "weights_path (exactly one)")
        if weights_path is not None:
            paths = package_files(weights_path)
        else:
            paths = []
            for f in weights_filenames or []:
                p = Path(f).expanduser()
                if not p.is_file():
                    raise InvalidInput(f"weights file not found: {p}")
                paths.append((str(p), p.name))
            if not paths:
                raise InvalidInput("weights_filenames is empty")
        out = self._store(paths, iteration, package=True)
        if auto_delete_file:
            for local, _name in paths:
                _delete(Path(local))
        return out

    def _store(self, paths: list[tuple[str, str]], iteration: int | None, *,
               package: bool) -> str:
        from arno.client._model_weights import upload_weights

        stats = UploadStats()
        files = upload_weights(self._session, paths, stats=stats)
        self.last_upload = stats
        return self._set_weights({"files": files, "iteration": iteration,
                                  "package": package or len(files) > 1})

    def _set_weights(self, weights: dict[str, Any]) -> str:
        weights = {k: v for k, v in weights.items() if v is not None}
        if not self.created:
            if weights.get("iteration") is not None:
                self._pending["iteration"] = weights["iteration"]
            self._create(weights)
        else:
            self._info = self._client().set_weights(self.id, weights)
        return self.url

    def _upload_elsewhere(self, local: Path, remote: str) -> str:
        from arno.sdk._storage import StorageManager

        return StorageManager.upload_file(str(local), remote)


def _task_labels(task: Task | None) -> dict[str, int]:
    """The task's label enumeration, which a new output model takes (as in ClearML)."""
    if task is None:
        return {}
    try:
        return dict(task.get_labels_enumeration())
    except Exception:
        return {}


def _delete(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        log.warning("arno: could not delete %s after its upload: %s", path, exc)

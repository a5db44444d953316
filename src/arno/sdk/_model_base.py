"""What every model object of the SDK shares (ClearML's ``BaseModel``): the record's fields,
metadata, publishing, archiving and getting the weights to a local path.

Weights stored in Arno are downloaded piece by piece, each piece checked against its hash,
into ``$ARNO_HOME/cache/models/<weights hash>/`` (a complete copy there is reused); weights
registered at an http(s)/s3/gs/azure URI go through ``StorageManager.get_local_copy``. Nothing
is loaded or unpickled: the caller gets a path.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from arno.client._models import ModelClient
from arno.core.errors import ArnoError, InvalidInput
from arno.sdk import _context

log = logging.getLogger("arno.model")

ARCHIVED_TAG = "archived"
"""What ClearML calls the archived system tag; Arno keeps ``archived`` as a field."""
STORED_PREFIX = "arno://models/"


def client(session: Any = None) -> ModelClient:
    return ModelClient(session if session is not None else _context.session())


def design_text(config_text: str | None, config_dict: dict[str, Any] | None) -> str | None:
    """The design text of ``config_text`` or ``config_dict`` (JSON), None when neither."""
    if config_text is not None and config_dict is not None:
        raise InvalidInput("give config_text or config_dict, not both")
    if config_dict is not None:
        if not isinstance(config_dict, dict):
            raise InvalidInput(f"config_dict must be a dict, got {type(config_dict).__name__}")
        return json.dumps(config_dict, indent=2, sort_keys=True, default=str)
    if config_text is not None and not isinstance(config_text, str):
        raise InvalidInput(f"config_text must be text, got {type(config_text).__name__}")
    return config_text


def design_dict(text: str | None) -> dict[str, Any]:
    """A design text read back as a dict (JSON, or YAML when PyYAML reads it as a mapping)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            import yaml

            value = yaml.safe_load(text)
        except Exception:
            return {}
    return value if isinstance(value, dict) else {}


def check_labels(labels: Any) -> dict[str, int]:
    if labels is None:
        return {}
    if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in labels.items()):
        raise InvalidInput("label_enumeration maps label names (text) to integers")
    return dict(labels)


def meta_entry(key: str, value: Any, v_type: str | None = None) -> dict[str, Any]:
    """A metadata entry as ClearML writes it: the value as text, its type's name beside it."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("a metadata key is non-empty text")
    kind = v_type or (type(value).__name__ if value is not None else "str")
    return {"key": key, "type": str(kind), "value": "" if value is None else str(value)}


def cast_value(entry: dict[str, Any]) -> Any:
    """A metadata value converted back to its recorded type (text when that fails)."""
    value, kind = entry.get("value"), str(entry.get("type") or "str")
    if not isinstance(value, str):
        return value
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return value.strip().lower() in ("true", "1", "yes")
        if kind in ("list", "dict", "tuple", "json"):
            return json.loads(value)
    except ValueError:
        return value
    return value


class ModelList(list[Any]):
    """A task's models, oldest first; also indexed by model name (the newest of that name):
    ``task.models["output"]["best"]``, ``task.models["output"][-1]``."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for model in reversed(self):
                if model.name == key:
                    return model
            raise KeyError(key)
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(m.name for m in self))


class BaseModel:
    """A model record of the registry, read from the server (``_info``)."""

    _info: dict[str, Any]
    _session: Any

    # ---- the record ------------------------------------------------------------------------
    def _client(self) -> ModelClient:
        return client(self._session)

    def _record(self) -> dict[str, Any]:
        return self._info

    def _change(self, body: dict[str, Any]) -> None:
        self._info = self._client().update(self.id, body)

    def _reload(self) -> None:
        self._info = self._client().get(self.id)

    @property
    def id(self) -> str:
        return str(self._record().get("id") or "")

    @property
    def name(self) -> str:
        return str(self._record().get("name") or "")

    @name.setter
    def name(self, value: str) -> None:
        self._change({"name": value})

    @property
    def comment(self) -> str:
        return str(self._record().get("comment") or "")

    @comment.setter
    def comment(self, value: str) -> None:
        self._change({"comment": value or ""})

    @property
    def tags(self) -> list[str]:
        return list(self._record().get("tags") or [])

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._change({"tags": list(value or [])})

    @property
    def system_tags(self) -> list[str]:
        return list(self._record().get("system_tags") or [])

    @system_tags.setter
    def system_tags(self, value: list[str]) -> None:
        self._change({"system_tags": list(value or [])})

    @property
    def project(self) -> str:
        """The project's id (as ClearML's ``Model.project``); set it to a project name to
        move the model."""
        return str(self._record().get("project_id") or "")

    @project.setter
    def project(self, value: str) -> None:
        self._change({"project": value})

    @property
    def project_name(self) -> str:
        return str(self._record().get("project") or "")

    @property
    def task(self) -> str | None:
        """The id of the task that created the model."""
        value = self._record().get("task_id")
        return str(value) if value else None

    @property
    def original_task(self) -> str | None:
        return self.task

    @property
    def framework(self) -> str:
        return str(self._record().get("framework") or "")

    @property
    def labels(self) -> dict[str, int]:
        return dict(self._record().get("labels") or {})

    @property
    def config_text(self) -> str:
        return str(self._record().get("design") or "")

    @property
    def config_dict(self) -> dict[str, Any]:
        return design_dict(self.config_text)

    @property
    def url(self) -> str:
        """Where the weights are: ``arno://models/<id>`` when stored in Arno, else the
        registered URI ("" when the model has none)."""
        return str(self._record().get("uri") or "")

    @property
    def published(self) -> bool:
        return bool(self._record().get("published"))

    @property
    def archived(self) -> bool:
        return bool(self._record().get("archived"))

    @property
    def archived_tag(self) -> str:
        return ARCHIVED_TAG

    @property
    def iteration(self) -> int | None:
        value = self._record().get("iteration")
        return int(value) if value is not None else None

    @property
    def data(self) -> dict[str, Any]:
        """The record as the server returns it."""
        return dict(self._record())

    def __repr__(self) -> str:
        ident = self._record().get("id") or "(not created)"
        return f"<{type(self).__name__} {ident} {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        mine = self._record().get("id")
        return isinstance(other, BaseModel) and bool(mine) and mine == other._record().get("id")

    def __hash__(self) -> int:
        return hash(self._record().get("id") or id(self))

    # ---- metadata --------------------------------------------------------------------------
    def set_metadata(self, key: str, value: str, v_type: str | None = None) -> bool:
        entry = meta_entry(key, value, v_type)
        self._change({"metadata_set": {key: entry}})
        return True

    def set_all_metadata(self, metadata: dict[str, dict[str, str]], replace: bool = True
                         ) -> bool:
        entries = {}
        for key, item in (metadata or {}).items():
            item = item if isinstance(item, dict) else {"value": item}
            entries[key] = meta_entry(key, item.get("value"), item.get("type"))
        self._change({"metadata": entries} if replace else {"metadata_set": entries})
        return True

    def get_metadata(self, key: str) -> str | None:
        entry = (self._record().get("metadata") or {}).get(key)
        if entry is None:
            return None
        value = entry.get("value")
        return None if value is None else str(value)

    def get_metadata_casted(self, key: str) -> Any:
        entry = (self._record().get("metadata") or {}).get(key)
        return None if entry is None else cast_value(entry)

    def get_all_metadata(self) -> dict[str, dict[str, str]]:
        return {k: {"key": k, "type": str(v.get("type")), "value": str(v.get("value"))}
                for k, v in (self._record().get("metadata") or {}).items()}

    def get_all_metadata_casted(self) -> dict[str, dict[str, Any]]:
        return {k: {"key": k, "type": v.get("type"), "value": cast_value(v)}
                for k, v in (self._record().get("metadata") or {}).items()}

    # ---- state -------------------------------------------------------------------------------
    def publish(self) -> None:
        """Make the model immutable (its weights, design, labels and metadata); refused for a
        model with no weights."""
        self._info = self._client().publish(self.id)

    def archive(self) -> None:
        self._info = self._client().archive(self.id, True)

    def unarchive(self) -> None:
        self._info = self._client().archive(self.id, False)

    def get_offline_mode_folder(self) -> str:
        """Models are not recorded offline in Arno: the cache folder of this model's weights."""
        return str(_context.home() / "cache" / "models")

    # ---- weights -------------------------------------------------------------------------------
    def get_local_copy(self, extract_archive: bool | None = None, raise_on_error: bool = False,
                       force_download: bool = False) -> str:
        """A local path of the weights: the file, or the folder of a package. Stored weights
        are checked piece by piece; a damaged download writes nothing and raises
        IntegrityError with ``raise_on_error``, else returns None (as ClearML)."""
        try:
            return str(self._download(force_download, extract_archive))
        except ArnoError:
            if raise_on_error:
                raise
            log.exception("arno: could not download the weights of model %s", self.id)
            return None  # type: ignore[return-value]  # None on failure, as ClearML

    def get_weights(self, raise_on_error: bool = False, force_download: bool = False,
                    extract_archive: bool = False) -> str:
        return self.get_local_copy(extract_archive=extract_archive,
                                   raise_on_error=raise_on_error,
                                   force_download=force_download)

    def get_weights_package(self, return_path: bool = False, raise_on_error: bool = False,
                            force_download: bool = False, extract_archive: bool = True
                            ) -> str | list[Path] | None:
        """The package's folder (``return_path``) or the list of its files."""
        path = self.get_local_copy(extract_archive=extract_archive,
                                   raise_on_error=raise_on_error,
                                   force_download=force_download)
        if path is None:
            return None
        if return_path:
            return path
        root = Path(path)
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]

    def _download(self, force: bool, extract_archive: bool | None) -> Path:
        from arno.client._model_weights import download_weights

        if not self.id:
            raise InvalidInput("the model has no weights yet")
        weights = self._client().weights(self.id)
        files = weights.get("files")
        if files:
            return download_weights(self._session or _context.session(), files,
                                    home=_context.home(), key=weights.get("hash"),
                                    package=bool(weights.get("package")), force=force)
        uri = str(weights.get("uri") or "")
        if not uri:
            raise InvalidInput(f"model {self.id} has no weights")
        from arno.sdk._storage import StorageManager

        extract = bool(weights.get("package")) if extract_archive is None else extract_archive
        return Path(StorageManager.get_local_copy(uri, cache_context="models",
                                                  extract_archive=extract,
                                                  force_download=force))

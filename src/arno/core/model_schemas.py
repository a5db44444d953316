"""API schemas of the model registry, shared by the server and the client.

A model's weights are either stored in Arno (files cut into pieces held in dataset packs,
listed like a dataset manifest's files) or left at a registered URI. Metadata entries are
``{"key", "type", "value"}``; a request may give a plain value instead (its type is then
named after its JSON type).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from arno.core.dataset_schemas import ManifestFile, check_manifest_files
from arno.core.limits import (
    MAX_JSON_BYTES,
    MAX_LIST,
    MAX_NAME,
    MAX_TAGS,
    MAX_TEXT,
    MAX_URI,
    MAX_VALUE,
    Id,
    Int64,
    check_json,
)
from arno.core.schemas import clean_tags

URI_SCHEMES = ("s3", "gs", "azure", "http", "https", "arno")
"""Schemes a registered weights URI may have (a local path or ``file://`` means nothing to
another machine, and reading one on the server would expose its files)."""
MAX_META_KEY = 256
MAX_LABELS = MAX_LIST
MAX_META = MAX_LIST
MAX_WEIGHTS_FILES = MAX_LIST
STORED_PREFIX = "arno://models/"
"""The ``uri`` of weights stored in Arno: ``arno://models/<model id>``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_uri(uri: str) -> str:
    """``uri`` if it names weights another machine can reach (see ``URI_SCHEMES``), else
    ValueError saying why."""
    if not uri or len(uri) > MAX_URI:
        raise ValueError(f"a weights uri has 1 to {MAX_URI} characters")
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if scheme not in URI_SCHEMES:
        raise ValueError(f"weights uri {uri[:200]!r}: use one of the schemes "
                         f"{', '.join(s + '://' for s in URI_SCHEMES)} (not a local path "
                         "or file://)")
    if not urlsplit(uri).netloc:
        raise ValueError(f"weights uri {uri[:200]!r} names no host or bucket")
    return uri


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if value is None:
        return "none"
    return "list" if isinstance(value, list) else "dict"


def normalize_metadata(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {"key", "type", "value"}}`` from entries or plain values; ValueError when over
    the limits (keys, entries, size, depth)."""
    if len(raw) > MAX_META:
        raise ValueError(f"metadata has more than {MAX_META} keys")
    out: dict[str, dict[str, Any]] = {}
    for key, item in raw.items():
        if not key or len(key) > MAX_META_KEY:
            raise ValueError(f"metadata keys have 1 to {MAX_META_KEY} characters")
        if isinstance(item, dict) and "value" in item and set(item) <= {"key", "type", "value"}:
            value = item["value"]
            vtype = item.get("type") or _type_of(value)
            if not isinstance(vtype, str) or len(vtype) > 64:
                raise ValueError(f"metadata {key!r}: type is a name of at most 64 characters")
        else:
            value, vtype = item, _type_of(item)
        out[key] = {"key": key, "type": vtype, "value": value}
    check_json(out, max_bytes=MAX_JSON_BYTES, what="metadata")
    return out


def _check_labels(labels: dict[str, int]) -> dict[str, int]:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"more than {MAX_LABELS} labels")
    for name in labels:
        if not name or len(name) > MAX_NAME:
            raise ValueError(f"label names have 1 to {MAX_NAME} characters")
    return labels


Labels = Annotated[dict[str, Int64], AfterValidator(_check_labels)]
Metadata = Annotated[dict[str, Any], AfterValidator(normalize_metadata)]
Tags = Annotated[list[str], Field(max_length=MAX_TAGS), AfterValidator(clean_tags)]
MetaKey = Annotated[str, Field(min_length=1, max_length=MAX_META_KEY)]


class WeightsSet(_Model):
    """Either ``uri`` (registered: nothing is uploaded) or ``files`` (stored in Arno: their
    pieces uploaded already, through ``pieces/missing`` and ``PUT /datasets/packs/{hash}``)."""

    uri: Annotated[str, AfterValidator(check_uri)] | None = None
    files: list[ManifestFile] | None = Field(default=None, max_length=MAX_WEIGHTS_FILES)
    iteration: Int64 | None = None
    package: bool | None = None
    """The weights are a package (a folder of files); default: more than one file."""

    @model_validator(mode="after")
    def _one_source(self) -> WeightsSet:
        if (self.uri is None) == (self.files is None):
            raise ValueError("give either uri or files")
        if self.files is not None:
            if not self.files:
                raise ValueError("files: at least one weights file")
            check_manifest_files(self.files)
            for f in self.files:
                if "uri" in f:
                    raise ValueError(f"files: {f['path']} is external; register a uri instead")
        return self


class WeightsOut(_Model):
    uri: str
    files: list[ManifestFile] | None
    """The stored files (None for a registered URI or a model with no weights)."""
    package: bool
    size: int
    hash: str | None


class ModelCreate(_Model):
    project: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    """Project path, made when missing; default: the project of ``task_id``."""
    name: str = Field(min_length=1, max_length=MAX_NAME)
    task_id: Id | None = None
    """The task creating the model (the caller must be allowed to change it)."""
    framework: str = Field(default="", max_length=64)
    tags: Tags = Field(default_factory=list)
    system_tags: Tags = Field(default_factory=list)
    comment: str = Field(default="", max_length=MAX_TEXT)
    labels: Labels = Field(default_factory=dict)
    design: str = Field(default="", max_length=MAX_VALUE)
    metadata: Metadata = Field(default_factory=dict)
    iteration: Int64 | None = None
    parent_id: Id | None = None
    weights: WeightsSet | None = None


class ModelUpdate(_Model):
    """Fields left out stay as they are. On a published model only ``tags``,
    ``system_tags`` and ``comment`` may change."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    comment: str | None = Field(default=None, max_length=MAX_TEXT)
    tags: Tags | None = None
    system_tags: Tags | None = None
    framework: str | None = Field(default=None, max_length=64)
    labels: Labels | None = None
    design: str | None = Field(default=None, max_length=MAX_VALUE)
    metadata: Metadata | None = None
    """Replaces all metadata."""
    metadata_set: Metadata | None = None
    """Sets these keys, keeping the others."""
    metadata_remove: list[MetaKey] | None = Field(default=None, max_length=MAX_META)
    project: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    iteration: Int64 | None = None
    parent_id: Id | None = None


class ModelOut(_Model):
    id: str
    name: str
    project: str
    project_id: str
    framework: str
    task_id: str | None
    task_name: str | None
    owner: str | None
    owner_id: str | None
    created_by_task_id: str | None
    tags: list[str]
    system_tags: list[str]
    comment: str
    labels: dict[str, int]
    design: str
    metadata: dict[str, dict[str, Any]]
    uri: str
    weights_size: int
    weights_files: int
    weights_hash: str | None
    package: bool
    iteration: int | None
    parent_id: str | None
    published: bool
    published_at: datetime | None
    archived: bool
    created_at: datetime
    updated_at: datetime


class ModelPage(_Model):
    items: list[ModelOut]
    total: int
    next_cursor: str | None
    columns: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """``meta:key`` -> model id -> the value (models without it left out)."""


class ModelArchive(_Model):
    archived: bool = True


class ModelUseIn(_Model):
    model_id: Id


class ModelUseOut(_Model):
    task_id: str
    name: str
    model_id: str
    created_at: datetime


class NamedModel(_Model):
    name: str
    model: ModelOut


class TaskModels(_Model):
    input: list[NamedModel]
    """The task's input models, by the name it uses them under."""
    output: list[NamedModel]
    """The models the task created, oldest first (named by their own name)."""


class LineageTask(_Model):
    id: str
    name: str
    status: str
    project: str


class LineageDataset(_Model):
    id: str
    """The dataset version's id."""
    name: str | None
    version: str | None
    alias: str
    """The name the task used for it (its hyperparameter in section ``Datasets``)."""


class LineageConsumer(_Model):
    task_id: str
    task_name: str
    status: str
    project: str
    name: str
    """The name the task uses the model under."""


class ModelLineage(_Model):
    model: ModelOut
    task: LineageTask | None
    datasets: list[LineageDataset]
    input_models: list[NamedModel]
    consumers: list[LineageConsumer]

"""API schemas shared by the server (responses, request bodies) and the client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arno.core.floats import decode_float as decode_float  # re-exported
from arno.core.floats import encode_float as encode_float  # re-exported
from arno.core.limits import (
    MAX_LIST,
    MAX_NAME,
    MAX_REF,
    MAX_SCRIPT_BYTES,
    MAX_TAGS,
    MAX_TEXT,
    MAX_URI,
    MAX_VALUE,
    FigureJson,
    Id,
    Int32,
    Int64,
    JsonObject,
    check_json,
)
from arno.core.status import TaskStatus, TaskType

Role = Literal["admin", "user"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- users and keys -------------------------------------------------------------------------


class UserCreate(_Model):
    username: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, min_length=8, max_length=256)
    role: Role = "user"


class UserOut(_Model):
    id: str
    username: str
    role: Role
    disabled: bool
    created_at: datetime


class KeyCreate(_Model):
    user: str | None = Field(default=None, max_length=MAX_REF)
    """Username or id of the key's owner; default is the caller."""
    label: str = Field(default="", max_length=256)


class KeyOut(_Model):
    id: str
    access_key: str
    user_id: str
    username: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    secret_key: str
    """Shown once; only its hash is stored."""


class WhoAmI(_Model):
    user_id: str
    username: str
    role: Role
    run_task_id: str | None = None
    """Set when the caller is a task run's credential (scoped to that run)."""


# ---- projects -------------------------------------------------------------------------------


class ProjectCreate(_Model):
    name: str = Field(min_length=1, max_length=512)
    description: str = Field(default="", max_length=MAX_TEXT)


class ProjectOut(_Model):
    id: str
    name: str
    parent_id: str | None
    description: str
    created_at: datetime
    task_count: int = 0
    last_activity: datetime | None = None


# ---- tasks ----------------------------------------------------------------------------------


class ScriptInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    repository: str | None = Field(default=None, max_length=MAX_URI)
    branch: str | None = Field(default=None, max_length=MAX_NAME)
    commit: str | None = Field(default=None, max_length=MAX_REF)
    diff: str | None = Field(default=None, max_length=MAX_SCRIPT_BYTES)
    entry_point: str | None = Field(default=None, max_length=MAX_URI)
    working_dir: str | None = Field(default=None, max_length=MAX_URI)
    requirements: str | None = Field(default=None, max_length=MAX_VALUE)
    """What an agent installs: the distributions the code imports, ``name==version`` lines."""
    requirements_freeze: str | None = Field(default=None, max_length=MAX_VALUE)
    """Every distribution installed where the task was recorded (shown, never installed)."""
    python_version: str | None = Field(default=None, max_length=MAX_REF)

    @model_validator(mode="after")
    def _bounded(self) -> ScriptInfo:
        check_json(self.model_dump(exclude_none=True), max_bytes=MAX_SCRIPT_BYTES, what="script")
        return self


class HyperParam(_Model):
    section: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=512)
    value: str = Field(default="", max_length=MAX_VALUE)
    type: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=MAX_TEXT)


class ConfigurationItem(_Model):
    name: str = Field(min_length=1, max_length=256)
    type: str = Field(default="dictionary", max_length=32)
    value: str = Field(default="", max_length=MAX_VALUE)
    description: str = Field(default="", max_length=MAX_TEXT)


class TaskCreate(_Model):
    project: str = Field(min_length=1, max_length=512)
    """Project path ("a/b"); created with its parents when missing."""
    name: str = Field(min_length=1, max_length=512)
    type: TaskType = TaskType.training
    status: TaskStatus = TaskStatus.created
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    comment: str = Field(default="", max_length=MAX_TEXT)
    parent_id: Id | None = None
    script: ScriptInfo | None = None
    hyperparams: list[HyperParam] = Field(default_factory=list, max_length=MAX_LIST)
    configurations: list[ConfigurationItem] = Field(default_factory=list, max_length=MAX_LIST)
    user_properties: JsonObject = Field(default_factory=dict)
    runtime: JsonObject = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return clean_tags(tags)


def clean_tags(tags: list[str]) -> list[str]:
    seen: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > 256:
            raise ValueError("tags must be 1 to 256 characters")
        if tag not in seen:
            seen.append(tag)
    return seen


class TaskUpdate(_Model):
    name: str | None = Field(default=None, min_length=1, max_length=512)
    comment: str | None = Field(default=None, max_length=MAX_TEXT)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)
    type: TaskType | None = None
    script: ScriptInfo | None = None
    user_properties: JsonObject | None = None
    runtime: JsonObject | None = None
    last_iteration: Int64 | None = None
    project: str | None = Field(default=None, min_length=1, max_length=512)
    """Move the task to this project (by name; made when missing)."""
    parent_id: Id | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags)


class StatusChange(_Model):
    status: TaskStatus
    message: str = Field(default="", max_length=MAX_TEXT)
    force: bool = False


class MetricSummary(_Model):
    metric: str
    variant: str
    last: float | str | None
    min: float | str | None
    max: float | str | None
    last_iteration: int
    count: int


class TaskOut(_Model):
    id: str
    project_id: str
    project: str
    name: str
    type: str
    status: TaskStatus
    status_message: str
    tags: list[str]
    comment: str
    archived: bool
    parent_id: str | None
    owner_id: str | None
    owner: str | None
    created_by_task_id: str | None = None
    """The task whose run created this one, when a run did."""
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    last_iteration: int | None
    script: dict[str, Any]
    user_properties: dict[str, Any]
    runtime: dict[str, Any]


class TaskDetail(TaskOut):
    hyperparams: list[HyperParam]
    configurations: list[ConfigurationItem]
    metrics: list[MetricSummary]


class TaskPage(_Model):
    items: list[TaskOut]
    total: int
    next_cursor: str | None
    columns: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """For each requested extra column, task id -> value."""


class CloneRequest(_Model):
    name: str | None = Field(default=None, min_length=1, max_length=512)
    project: str | None = Field(default=None, min_length=1, max_length=512)
    parent_id: Id | None = None


# ---- events ---------------------------------------------------------------------------------


class ScalarSeriesIn(_Model):
    """Points of one series, columnar: equal-length lists."""

    metric: str = Field(min_length=1, max_length=256)
    variant: str = Field(min_length=1, max_length=256)
    iterations: list[Int64]
    values: list[float]
    timestamps: list[float]


class SingleValueIn(_Model):
    name: str = Field(min_length=1, max_length=256)
    value: float
    timestamp: float


class PlotIn(_Model):
    metric: str = Field(min_length=1, max_length=256)
    variant: str = Field(min_length=1, max_length=256)
    iteration: Int64 = 0
    figure: FigureJson
    timestamp: float


class DebugSampleIn(_Model):
    metric: str = Field(min_length=1, max_length=256)
    variant: str = Field(min_length=1, max_length=256)
    iteration: Int64 = 0
    kind: Literal["image", "audio", "video", "html", "file"] = "image"
    hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str = Field(default="", max_length=MAX_URI)
    content_type: str = Field(default="", max_length=128)
    size: Int64 = Field(default=0, ge=0)
    timestamp: float


class ConsoleLineIn(_Model):
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str
    timestamp: float


class EventBatch(_Model):
    batch_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    scalars: list[ScalarSeriesIn] = Field(default_factory=list)
    single_values: list[SingleValueIn] = Field(default_factory=list)
    plots: list[PlotIn] = Field(default_factory=list)
    debug_samples: list[DebugSampleIn] = Field(default_factory=list)
    console: list[ConsoleLineIn] = Field(default_factory=list)
    last_iteration: Int64 | None = None


class BatchResult(_Model):
    batch_id: str
    duplicate: bool
    points: int


class ScalarSeriesOut(_Model):
    metric: str
    variant: str
    x: list[float]
    y: list[float | str | None]
    """Non-finite values come as the strings "NaN", "Infinity", "-Infinity"."""
    timestamps: list[float] | None = None
    total: int
    sampled: bool


class PlotOut(_Model):
    id: int
    metric: str
    variant: str
    iteration: int
    figure: dict[str, Any]
    timestamp: float


class DebugSampleOut(_Model):
    id: int
    metric: str
    variant: str
    iteration: int
    kind: str
    hash: str | None
    url: str
    content_type: str
    size: int
    timestamp: float


class ConsoleLineOut(_Model):
    id: int
    stream: str
    text: str
    timestamp: float


class SingleValueOut(_Model):
    name: str
    value: float | str | None
    timestamp: float


# ---- artifacts ------------------------------------------------------------------------------


class ArtifactCreate(_Model):
    """Register an artifact whose bytes are already stored (by hash) or live at an external URI."""

    type: str = Field(default="file", max_length=32)
    mode: Literal["input", "output"] = "output"
    file_name: str = Field(default="", max_length=512)
    content_type: str = Field(default="application/octet-stream", max_length=128)
    hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    uri: str = Field(default="", max_length=MAX_URI)
    preview: str = Field(default="", max_length=65536)
    metadata: JsonObject = Field(default_factory=dict)


class ArtifactOut(_Model):
    task_id: str
    name: str
    type: str
    mode: str
    file_name: str
    content_type: str
    size: int
    hash: str | None
    uri: str
    preview: str
    metadata: dict[str, Any]
    created_at: datetime


class BlobOut(_Model):
    hash: str
    size: int


class Health(_Model):
    status: str
    version: str
    database: str


# ---- helpers for non-finite floats in strict JSON ---------------------------------------------


# ---- queues and workers -----------------------------------------------------------------------


class QueueCreate(_Model):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")


class QueueOut(_Model):
    id: str
    name: str
    system: bool
    length: int
    oldest_enqueued_at: datetime | None
    created_at: datetime


class QueueEntryOut(_Model):
    task_id: str
    task_name: str
    project: str
    priority: int
    enqueued_at: datetime
    position: int


class EnqueueRequest(_Model):
    queue: str = Field(default="default", min_length=1, max_length=MAX_REF)
    """Queue name or id."""
    priority: Int32 = 0
    max_retries: int | None = Field(default=None, ge=0, le=100)


class WorkerRegister(_Model):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    host: str = Field(default="", max_length=256)
    queues: list[Annotated[str, Field(max_length=MAX_REF)]] = Field(min_length=1, max_length=256)
    gpus: list[Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        default_factory=list, max_length=1024)
    info: JsonObject = Field(default_factory=dict)


class WorkerOut(_Model):
    id: str
    host: str
    user: str | None
    queues: list[str]
    gpus: list[str]
    info: dict[str, Any]
    stats: dict[str, Any]
    task_ids: list[str]
    registered_at: datetime
    last_seen_at: datetime


class Heartbeat(_Model):
    stats: JsonObject = Field(default_factory=dict)
    task_ids: list[Id] = Field(default_factory=list, max_length=MAX_LIST)


class HeartbeatReply(_Model):
    abort: list[str]
    """Running tasks this worker must stop (aborted, or no longer leased to it)."""
    lease_seconds: float


class DequeueRequest(_Model):
    queues: list[Annotated[str, Field(max_length=MAX_REF)]] = Field(min_length=1, max_length=256)
    wait: float = Field(default=30.0, ge=0, le=120)


class RunCredential(_Model):
    """The key a task's process reports with: the owner's rights, for this run only."""

    access_key: str
    secret_key: str
    expires_at: datetime


class DequeueReply(_Model):
    task: TaskDetail | None
    queue: str | None = None
    lease_seconds: float
    credential: RunCredential | None = None
    """Handed to the task's process in place of the agent's own key."""


class TaskDone(_Model):
    exit_code: Int64
    message: str = Field(default="", max_length=MAX_TEXT)

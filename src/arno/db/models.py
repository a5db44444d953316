"""ORM rows. They never leave ``db`` and ``services``; routers return pydantic models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arno.core.ids import new_id, utcnow


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _id_column() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id_column()
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Raised on logout-everywhere and password change: older browser sessions stop working."""


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = _id_column()
    access_key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # a run credential: issued to an agent for one run of ``task_id``, valid only while that
    # run lasts (revoked when it ends) and never past ``expires_at``
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE", name="fk_api_keys_task_id"), index=True)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(512), unique=True)
    """Full path, nested with "/"."""
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TaskRow(Base):
    __tablename__ = "tasks"
    id: Mapped[str] = _id_column()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    type: Mapped[str] = mapped_column(String(32), default="training")
    status: Mapped[str] = mapped_column(String(16), default="created")
    status_message: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_iteration: Mapped[int | None] = mapped_column(BigInteger)
    script: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    runtime: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Execution settings: container image and arguments, queue hints, environment."""
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    abort_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    created_by_task_id: Mapped[str | None] = mapped_column(String(32))
    """The task whose run created this one (with its run credential), if any."""
    __table_args__ = (
        Index("ix_tasks_lease", "status", "lease_expires_at"),
        Index("ix_tasks_project_created", "project_id", "created_at"),
        Index("ix_tasks_name", "name"),
        Index("ix_tasks_status", "status"),
        Index("ix_tasks_created", "created_at"),
    )


class QueueRow(Base):
    __tablename__ = "queues"
    id: Mapped[str] = _id_column()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueueEntryRow(Base):
    """A task waiting in a queue: higher priority first, then first come first served."""

    __tablename__ = "queue_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), unique=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the hand-out order, so taking the next entry is one index probe, not a sort
    __table_args__ = (Index("ix_queue_entries_order", "queue_id", text("priority DESC"), "id"),)


class WorkerRow(Base):
    """An agent process serving queues; alive while its heartbeats keep coming."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    host: Mapped[str] = mapped_column(String(256), default="")
    queues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    gpus: Mapped[list[Any]] = mapped_column(JSON, default=list)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    task_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TaskTagRow(Base):
    """One row per tag, so a tag filter is an index lookup (tags also live on the task)."""

    __tablename__ = "task_tags"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(256), primary_key=True)
    __table_args__ = (Index("ix_task_tags_tag", "tag", "task_id"),)


class HyperParamRow(Base):
    __tablename__ = "hyperparams"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    section: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (Index("ix_hyperparams_key", "section", "name"),)


class ConfigurationRow(Base):
    __tablename__ = "configurations"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), default="dictionary")
    value: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), default="file")
    mode: Mapped[str] = mapped_column(String(16), default="output")
    file_name: Mapped[str] = mapped_column(String(512), default="")
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str | None] = mapped_column(String(64), index=True)
    uri: Mapped[str] = mapped_column(Text, default="")
    preview: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SeriesRow(Base):
    """One scalar series (metric, variant) of a task, with its running summary."""

    __tablename__ = "series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(256))
    variant: Mapped[str] = mapped_column(String(256))
    last_value: Mapped[float | None] = mapped_column(Float)
    """NULL stands for NaN (SQLite cannot store NaN); infinities are stored as such."""
    last_iteration: Mapped[int] = mapped_column(BigInteger, default=0)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        UniqueConstraint("task_id", "metric", "variant", name="uq_series_key"),
        Index("ix_series_sort", "metric", "variant", "last_value"),
        Index("ix_series_sort_min", "metric", "variant", "min_value"),
        Index("ix_series_sort_max", "metric", "variant", "max_value"),
    )


class ScalarRow(Base):
    """One point; the table is clustered by (series, iteration), one value per iteration."""

    __tablename__ = "scalars"
    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    iteration: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    """NULL stands for NaN."""
    timestamp: Mapped[float] = mapped_column(Float)
    """Unix time in seconds, as reported by the client."""
    __table_args__ = {"sqlite_with_rowid": False}


class ScalarBlockRow(Base):
    """Summary of a run of consecutive points of a series (see ``arno.db.scalar_blocks``)."""

    __tablename__ = "scalar_blocks"
    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_iteration: Mapped[int] = mapped_column(BigInteger)
    first_value: Mapped[float | None] = mapped_column(Float)
    first_timestamp: Mapped[float] = mapped_column(Float)
    last_iteration: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_timestamp: Mapped[float] = mapped_column(Float)
    min_iteration: Mapped[int | None] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Float)
    min_timestamp: Mapped[float | None] = mapped_column(Float)
    max_iteration: Mapped[int | None] = mapped_column(BigInteger)
    max_value: Mapped[float | None] = mapped_column(Float)
    max_timestamp: Mapped[float | None] = mapped_column(Float)
    __table_args__ = {"sqlite_with_rowid": False}


class SingleValueRow(Base):
    __tablename__ = "single_values"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    timestamp: Mapped[float] = mapped_column(Float)


class PlotRow(Base):
    __tablename__ = "plots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(256))
    variant: Mapped[str] = mapped_column(String(256))
    iteration: Mapped[int] = mapped_column(BigInteger, default=0)
    figure: Mapped[str] = mapped_column(Text)
    """Plotly JSON (data + layout) as text."""
    timestamp: Mapped[float] = mapped_column(Float)


class DebugSampleRow(Base):
    __tablename__ = "debug_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(256))
    variant: Mapped[str] = mapped_column(String(256))
    iteration: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="image")
    hash: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(128), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    timestamp: Mapped[float] = mapped_column(Float)


class ConsoleRow(Base):
    __tablename__ = "console"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(8), default="stdout")
    text: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_console_task", "task_id", "id"),)


class IngestBatchRow(Base):
    """Batch ids already stored, so a retried batch is applied once."""

    __tablename__ = "ingest_batches"
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServerStateRow(Base):
    """Small key/value facts of this installation (signing key, schema notes)."""

    __tablename__ = "server_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class DatasetRow(Base):
    """A dataset: a name in a project whose versions are tasks (see DatasetVersionRow)."""

    __tablename__ = "datasets"
    id: Mapped[str] = _id_column()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),)


class DatasetVersionRow(Base):
    """One version of a dataset, keyed by its task; its manifest is a blob (complete, with
    the files it inherits), its stats are counted against its merged parents."""

    __tablename__ = "dataset_versions"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8), default="draft")
    manifest_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    file_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    added_files: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_files: Mapped[int] = mapped_column(BigInteger, default=0)
    removed_files: Mapped[int] = mapped_column(BigInteger, default=0)
    added_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    removed_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    new_stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_version"),
    )


class DatasetParentRow(Base):
    __tablename__ = "dataset_parents"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.task_id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.task_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class DatasetPackRow(Base):
    """A pack of pieces, stored as a blob under its hash."""

    __tablename__ = "dataset_packs"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    piece_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)


class DatasetPieceRow(Base):
    """Where a piece lives: its first pack (a piece is stored once across all datasets)."""

    __tablename__ = "dataset_pieces"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    """Decoded size."""
    pack_hash: Mapped[str] = mapped_column(
        ForeignKey("dataset_packs.hash", ondelete="CASCADE"), index=True
    )
    offset: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = {"sqlite_with_rowid": False}


class DatasetPackRefRow(Base):
    """A pack a version's manifest needs; a pack nothing refers to is garbage (after a grace)."""

    __tablename__ = "dataset_pack_refs"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.task_id", ondelete="CASCADE"), primary_key=True
    )
    pack_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    __table_args__ = {"sqlite_with_rowid": False}


__all__ = [
    "ApiKeyRow",
    "ArtifactRow",
    "Base",
    "ConfigurationRow",
    "ConsoleRow",
    "DatasetPackRefRow",
    "DatasetPackRow",
    "DatasetParentRow",
    "DatasetPieceRow",
    "DatasetRow",
    "DatasetVersionRow",
    "DebugSampleRow",
    "HyperParamRow",
    "IngestBatchRow",
    "PlotRow",
    "ProjectRow",
    "QueueEntryRow",
    "QueueRow",
    "ScalarBlockRow",
    "ScalarRow",
    "SeriesRow",
    "ServerStateRow",
    "SingleValueRow",
    "TaskRow",
    "TaskTagRow",
    "UniqueConstraint",
    "WorkerRow",
]


# ---- the model registry -------------------------------------------------------------------------


class ModelRow(Base):
    """A registered model: its weights are in Arno (pieces in dataset packs, listed by a
    manifest blob) or at a registered URI; once published it never changes (tags and comment
    aside)."""

    __tablename__ = "models"
    id: Mapped[str] = _id_column()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(512))
    framework: Mapped[str] = mapped_column(String(64), default="")
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL", name="fk_models_task_id"))
    """The task that created the model; NULL once that task is deleted."""
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_task_id: Mapped[str | None] = mapped_column(String(32))
    """The task whose run created the model (with its run credential), if any."""
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    system_tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """label -> integer id."""
    design: Mapped[str] = mapped_column(Text, default="")
    """The model's configuration text (a configuration dict is stored as its JSON text)."""
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """key -> {"key", "type", "value"}."""
    uri: Mapped[str] = mapped_column(Text, default="")
    """``arno://models/<id>`` for weights stored in Arno, else the registered URI."""
    weights_manifest: Mapped[str | None] = mapped_column(String(64))
    weights_size: Mapped[int] = mapped_column(BigInteger, default=0)
    weights_files: Mapped[int] = mapped_column(Integer, default=0)
    weights_hash: Mapped[str | None] = mapped_column(String(64))
    """BLAKE3 of the single weights file, or the manifest's hash for a package."""
    package: Mapped[bool] = mapped_column(Boolean, default=False)
    iteration: Mapped[int | None] = mapped_column(BigInteger)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        Index("ix_models_project_created", "project_id", "created_at"),
        Index("ix_models_task_id", "task_id"),
        Index("ix_models_name", "name"),
        Index("ix_models_created_at", "created_at"),
    )


class ModelTagRow(Base):
    """One row per tag of a model (kept in step with ``ModelRow.tags``) for tag filters."""

    __tablename__ = "model_tags"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(256), primary_key=True)
    __table_args__ = (Index("ix_model_tags_tag", "tag", "model_id"),)


class ModelUseRow(Base):
    """A task's input model, under a name of the task's choosing."""

    __tablename__ = "model_uses"
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_model_uses_model_id", "model_id"),)


class ModelPackRefRow(Base):
    """A pack a model's weights need; dataset garbage collection treats it as live."""

    __tablename__ = "model_pack_refs"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    pack_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = (Index("ix_model_pack_refs_pack_hash", "pack_hash"),)


__all__ += ["ModelPackRefRow", "ModelRow", "ModelTagRow", "ModelUseRow"]

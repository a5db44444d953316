"""Listing tasks: filters on any column, hyperparameter or last metric; sort; cursor pages.

Sort keys: a column (``name``, ``created_at``, ``status``, ``type``, ``started_at``,
``completed_at``, ``updated_at``, ``last_iteration``, ``project``, ``owner``, ``duration``), a
hyperparameter (``param:Section/name``) or a metric (``metric:title/series`` for the last
value, with ``:min`` or ``:max`` appended for those). Prefix ``-`` for descending. Tasks without
the value sort last either way.
"""

from __future__ import annotations

import base64
import builtins
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, exists, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.sql import ColumnElement

from arno.core.errors import InvalidInput
from arno.core.floats import encode_float
from arno.core.limits import INT64_MAX, INT64_MIN, MAX_REGEX
from arno.core.schemas import TaskPage
from arno.core.status import TaskStatus, TaskType
from arno.db.engine import Database, compile_regex
from arno.db.models import (
    DatasetVersionRow,
    HyperParamRow,
    ProjectRow,
    SeriesRow,
    TaskRow,
    TaskTagRow,
    UserRow,
)
from arno.services.dataset_query import SYSTEM_TAG as DATASET_TAG
from arno.services.tasks import task_out

Column = ColumnElement[Any] | QueryableAttribute[Any]
"""A column or an expression a filter compares."""

COLUMNS = {
    "name": TaskRow.name,
    "created_at": TaskRow.created_at,
    "status": TaskRow.status,
    "type": TaskRow.type,
    "started_at": TaskRow.started_at,
    "completed_at": TaskRow.completed_at,
    "updated_at": TaskRow.updated_at,
    "last_iteration": TaskRow.last_iteration,
    "project": ProjectRow.name,
    "owner": UserRow.username,
    "id": TaskRow.id,
}
FIELD_FILTERS = (
    "name", "status", "type", "owner", "project", "id", "last_iteration", "created_at",
    "started_at", "completed_at", "updated_at", "duration",
)
_NOT_NULL = frozenset({"name", "created_at", "status", "type", "updated_at", "id"})
_TIMES = ("created_at", "started_at", "completed_at", "updated_at")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FILTER_RE = re.compile(r"^(?P<key>.+?)\s*(?P<op>>=|<=|!=|=|>|<|~)\s*(?P<value>.*)$")
_METRIC_AGG = {"last": SeriesRow.last_value, "min": SeriesRow.min_value, "max": SeriesRow.max_value}


@dataclass
class TaskQuery:
    project: str | None = None
    include_subprojects: bool = True
    status: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    """All must match; a tag starting with "-" must be absent."""
    owner: str | None = None
    name: str | None = None
    """Case-insensitive substring."""
    name_regex: str | None = None
    search: str | None = None
    """Substring of name, id, comment or tags."""
    params: list[str] = field(default_factory=list)
    """``Section/name<op>value`` with op among = != > < >= <= ~ (substring)."""
    metrics: list[str] = field(default_factory=list)
    """``title/series[:last|min|max]<op>number``."""
    archived: bool | None = False
    types: list[str] = field(default_factory=list)
    include_datasets: bool = False
    """Dataset versions are tasks too; they are listed only when asked for (or when the
    ``data_processing`` type or their ``dataset`` tag is)."""
    fields: list[str] = field(default_factory=list)
    """``column<op>value`` on a column of ``FIELD_FILTERS``: text columns take = != ~
    (substring), times an ISO date, ``duration`` seconds (or 90m, 2h, 1d)."""
    sort: list[str] = field(default_factory=lambda: ["-created_at"])
    limit: int = 50
    cursor: str | None = None
    columns: list[str] = field(default_factory=list)
    """Extra values to return per task: ``param:S/n`` or ``metric:t/s[:agg]``."""


def check_regex(pattern: str) -> None:
    """Refuse (422) a pattern longer than ``MAX_REGEX`` or one RE2 cannot compile. RE2 runs
    it on SQLite in time linear in the name; on PostgreSQL the pattern must also be one RE2
    takes, which leaves out back-references, the case where PostgreSQL's engine can take
    long, and the length bound keeps its automaton small."""
    if len(pattern) > MAX_REGEX:
        raise InvalidInput(f"name regex longer than {MAX_REGEX} characters")
    try:
        compile_regex(pattern)
    except Exception as exc:  # noqa: BLE001 - re2.error, or a pattern too large to compile
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise InvalidInput(f"invalid name regex: {reason}") from None


def _split_metric(spec: str) -> tuple[str, str, str]:
    agg = "last"
    body = spec
    for candidate in ("last", "min", "max"):
        if spec.endswith(":" + candidate):
            agg, body = candidate, spec[: -len(candidate) - 1]
            break
    if "/" not in body:
        raise InvalidInput(f"metric {spec!r} must be 'title/series' (optionally ':min' or ':max')")
    metric, variant = body.rsplit("/", 1) if body.count("/") > 1 else body.split("/", 1)
    return metric, variant, agg


def _split_param(spec: str) -> tuple[str, str]:
    if "/" not in spec:
        raise InvalidInput(f"parameter {spec!r} must be 'Section/name'")
    section, name = spec.split("/", 1)
    return section, name


def _numeric(col: Column, dialect: str) -> ColumnElement[Any]:
    """The value as a number, NULL when it is no number. (A bare CAST would read "adam" as 0
    on SQLite, so the same pattern is checked on both databases.)"""
    return case(
        (col.regexp_match(r"^\s*-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*$"), cast(col, Float)),
        else_=None,
    )


def _compare(col: Column, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == ">":
        return col > value
    if op == "<":
        return col < value
    if op == ">=":
        return col >= value
    if op == "<=":
        return col <= value
    return col.ilike(f"%{value}%")


def _parse_filter(text: str) -> tuple[str, str, str]:
    m = _FILTER_RE.match(text)
    if not m:
        raise InvalidInput(f"filter {text!r} must look like 'key<op>value' (op: = != > < >= <= ~)")
    return m["key"].strip(), m["op"], m["value"].strip()


def _as_number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a number") from None


def _duration(dialect: str) -> ColumnElement[Any]:
    """Seconds from start to completion (to now while running); NULL if never started."""
    if dialect == "postgresql":
        return func.extract(
            "epoch", func.coalesce(TaskRow.completed_at, func.now()) - TaskRow.started_at
        )
    return (
        func.julianday(func.coalesce(TaskRow.completed_at, func.datetime("now")))
        - func.julianday(TaskRow.started_at)
    ) * 86400.0


def _as_seconds(text: str) -> float:
    unit = _DURATION_UNITS.get(text[-1:].lower()) if text else None
    return _as_number(text[:-1] if unit else text, f"duration {text!r}") * (unit or 1)


def _as_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date (use YYYY-MM-DD or an ISO time)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _field_condition(text: str, dialect: str) -> ColumnElement[bool]:
    key, op, value = _parse_filter(text)
    if key not in FIELD_FILTERS:
        raise InvalidInput(f"cannot filter on {key!r}: use one of {', '.join(FIELD_FILTERS)}")
    if key == "duration":
        if op == "~":
            raise InvalidInput("duration compares numbers: use = != > < >= <=")
        return _compare(_duration(dialect), op, _as_seconds(value))
    if key in _TIMES:
        if op == "~":
            raise InvalidInput(f"{key} compares times: use = != > < >= <=")
        return _compare(COLUMNS[key], op, _as_time(value))
    if key == "last_iteration":
        if op == "~":
            raise InvalidInput("last_iteration compares numbers: use = != > < >= <=")
        number = _as_number(value, text)
        if not INT64_MIN <= number <= INT64_MAX:
            raise InvalidInput(f"{text!r}: last_iteration is a 64-bit integer")
        return _compare(COLUMNS[key], op, int(number))
    if key == "project":
        return TaskRow.project_id.in_(
            select(ProjectRow.id).where(_compare(ProjectRow.name, op, value)))
    if key == "owner":
        return TaskRow.owner_id.in_(select(UserRow.id).where(_compare(UserRow.username, op, value)))
    return _compare(COLUMNS[key], op, value)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except Exception:  # noqa: BLE001 - any malformed cursor is the caller's mistake
        raise InvalidInput("invalid cursor") from None
    if offset < 0:
        raise InvalidInput("invalid cursor")
    return offset


def _project_match(q: TaskQuery) -> ColumnElement[bool]:
    name = (q.project or "").strip().strip("/")
    if q.include_subprojects:
        return or_(ProjectRow.name == name, ProjectRow.name.like(f"{name}/%"))
    return or_(ProjectRow.name == name, ProjectRow.id == name)


def _ordered(stmt: Any, keys: list[str], dialect: str) -> tuple[Any, list[Any]]:
    """The ORDER BY terms of sort keys, with the joins they need added to ``stmt``. Tasks
    without a value sort last either way."""
    order: list[Any] = []
    joined: set[str] = set()
    for i, key in enumerate(keys):
        desc = key.startswith("-")
        key = key.lstrip("-+")
        if key.startswith("metric:"):
            metric, variant, agg = _split_metric(key[7:])
            alias = aliased(SeriesRow, name=f"sort_series_{i}")
            stmt = stmt.outerjoin(
                alias,
                and_(alias.task_id == TaskRow.id, alias.metric == metric,
                     alias.variant == variant),
            )
            col: Any = getattr(alias, _METRIC_AGG[agg].key)
        elif key.startswith("param:"):
            section, name = _split_param(key[6:])
            hp = aliased(HyperParamRow, name=f"sort_param_{i}")
            stmt = stmt.outerjoin(
                hp, and_(hp.task_id == TaskRow.id, hp.section == section, hp.name == name)
            )
            num = _numeric(hp.value, dialect)
            order.append(num.is_(None))
            order.append(num.desc() if desc else num.asc())
            col = hp.value
        elif key == "duration":
            col = _duration(dialect)
        elif key in COLUMNS:
            col = COLUMNS[key]
            if key == "project" and "project" not in joined:
                stmt = stmt.join(ProjectRow, ProjectRow.id == TaskRow.project_id)
                joined.add("project")
            if key == "owner" and "owner" not in joined:
                stmt = stmt.outerjoin(UserRow, UserRow.id == TaskRow.owner_id)
                joined.add("owner")
        else:
            raise InvalidInput(
                f"cannot sort by {key!r}: use a column ({', '.join(sorted(COLUMNS))}), "
                "'param:Section/name' or 'metric:title/series[:min|:max]'"
            )
        if key not in _NOT_NULL:
            order.append(col.is_(None))
        order.append(col.desc() if desc else col.asc())
    return stmt, order


class TaskQueryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, q: TaskQuery) -> TaskPage:
        """One page of tasks. The page's ids are found first, sorting narrow rows (id and
        sort keys), then only those tasks are loaded: a sort over 100k tasks never drags
        their whole rows along. Filters are subqueries on the tasks table alone. A sort that
        starts with a metric walks that metric's index in value order, so the first page of
        a leaderboard costs a few rows whatever the table's size."""
        if not 1 <= q.limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        offset = _decode_cursor(q.cursor) if q.cursor else 0
        keys = q.sort or ["-created_at"]
        with self.db.read() as s:
            dialect = s.get_bind().dialect.name
            conds = self._conditions(s, q, dialect)
            total = s.scalar(select(func.count()).select_from(TaskRow).where(*conds))
            if q.project:
                # for the page, one project is an equality: the database then walks the
                # (project, created) index in order instead of sorting the whole project
                pids = list(s.scalars(select(ProjectRow.id).where(_project_match(q))))
                if len(pids) == 1:
                    conds = [TaskRow.project_id == pids[0], *conds[1:]]
            if keys[0].lstrip("-+").startswith("metric:"):
                ids = self._metric_first_ids(s, keys, conds, dialect, offset, q.limit + 1)
            else:
                stmt, order = _ordered(select(TaskRow.id), keys, dialect)
                stmt = stmt.where(*conds).order_by(*order, TaskRow.id.asc())
                ids = list(s.scalars(stmt.offset(offset).limit(q.limit + 1)))
            more = len(ids) > q.limit
            ids = ids[: q.limit]
            found = {
                r.id: (r, pname, owner)
                for r, pname, owner in s.execute(
                    select(TaskRow, ProjectRow.name, UserRow.username)
                    .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
                    .outerjoin(UserRow, UserRow.id == TaskRow.owner_id)
                    .where(TaskRow.id.in_(ids))
                )
            } if ids else {}
            items = [task_out(*found[i]) for i in ids if i in found]
            columns = self._columns(s, q.columns, [i.id for i in items])
            return TaskPage(
                items=items,
                total=total or 0,
                next_cursor=_encode_cursor(offset + q.limit) if more else None,
                columns=columns,
            )

    @staticmethod
    def _metric_first_ids(s: Session, keys: builtins.list[str],
                          conds: builtins.list[ColumnElement[bool]], dialect: str, offset: int,
                          limit: int) -> builtins.list[str]:
        """Ids of a page sorted by a metric first: the tasks that have the value (in the
        metric index's order), then those that do not (sorted by the remaining keys)."""
        desc = keys[0].startswith("-")
        metric, variant, agg = _split_metric(keys[0].lstrip("-+")[7:])
        has = aliased(SeriesRow, name="sort_first")
        value = getattr(has, _METRIC_AGG[agg].key)
        on_series = (has.metric == metric, has.variant == variant, value.is_not(None))
        a, order = _ordered(
            select(TaskRow.id).select_from(has).join(TaskRow, TaskRow.id == has.task_id),
            keys[1:], dialect)
        a = a.where(*on_series, *conds).order_by(
            value.desc() if desc else value.asc(), *order, TaskRow.id.asc())
        ids = list(s.scalars(a.offset(offset).limit(limit)))
        if len(ids) == limit:
            return ids
        if ids:
            with_value = offset + len(ids)
        else:
            with_value = s.scalar(
                select(func.count()).select_from(has).join(TaskRow, TaskRow.id == has.task_id)
                .where(*on_series, *conds)) or 0
        other = aliased(SeriesRow, name="sort_missing")
        missing = ~exists().where(
            other.task_id == TaskRow.id, other.metric == metric, other.variant == variant,
            getattr(other, _METRIC_AGG[agg].key).is_not(None))
        b, order = _ordered(select(TaskRow.id), keys[1:], dialect)
        b = b.where(missing, *conds).order_by(*order, TaskRow.id.asc())
        ids += s.scalars(b.offset(max(0, offset - with_value)).limit(limit - len(ids)))
        return ids

    def _conditions(self, s: Session, q: TaskQuery, dialect: str
                    ) -> builtins.list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if q.project:
            conds.append(TaskRow.project_id.in_(select(ProjectRow.id).where(_project_match(q))))
        if q.status:
            for st in q.status:
                if st not in TaskStatus.__members__:
                    raise InvalidInput(f"unknown status {st!r}")
            conds.append(TaskRow.status.in_(q.status))
        for tag in q.tags:
            sub = select(TaskTagRow.task_id).where(TaskTagRow.tag == tag.lstrip("-"))
            conds.append(TaskRow.id.not_in(sub) if tag.startswith("-") else TaskRow.id.in_(sub))
        if q.owner:
            conds.append(or_(
                TaskRow.owner_id.in_(select(UserRow.id).where(UserRow.username == q.owner)),
                TaskRow.owner_id == q.owner,
            ))
        if q.name:
            conds.append(TaskRow.name.ilike(f"%{q.name}%"))
        if q.name_regex:
            check_regex(q.name_regex)
            conds.append(TaskRow.name.regexp_match(q.name_regex))
        if q.search:
            like = f"%{q.search}%"
            conds.append(
                or_(
                    TaskRow.name.ilike(like),
                    TaskRow.id.ilike(like),
                    TaskRow.comment.ilike(like),
                    TaskRow.id.in_(select(TaskTagRow.task_id).where(TaskTagRow.tag.ilike(like))),
                )
            )
        if q.archived is not None:
            conds.append(TaskRow.archived.is_(q.archived))
        if q.types:
            conds.append(TaskRow.type.in_(q.types))
        if not (q.include_datasets or TaskType.data_processing.value in q.types
                or DATASET_TAG in q.tags):
            conds.append(TaskRow.id.not_in(select(DatasetVersionRow.task_id)))
        for text in q.fields:
            conds.append(_field_condition(text, dialect))
        for text in q.params:
            key, op, value = _parse_filter(text)
            section, name = _split_param(key)
            col: Column = HyperParamRow.value
            operand: str | float = value
            if op in (">", "<", ">=", "<="):
                col, operand = _numeric(HyperParamRow.value, dialect), _as_number(value, text)
            # correlated: one primary-key lookup per candidate task
            conds.append(exists().where(
                HyperParamRow.task_id == TaskRow.id, HyperParamRow.section == section,
                HyperParamRow.name == name, _compare(col, op, operand),
            ))
        for text in q.metrics:
            key, op, value = _parse_filter(text)
            if op == "~":
                raise InvalidInput("metric filters compare numbers: use = != > < >= <=")
            metric, variant, agg = _split_metric(key)
            conds.append(exists().where(
                SeriesRow.task_id == TaskRow.id,
                SeriesRow.metric == metric,
                SeriesRow.variant == variant,
                _compare(_METRIC_AGG[agg], op, _as_number(value, text)),
            ))
        return conds

    def _columns(self, s: Session, specs: builtins.list[str], ids: builtins.list[str]
                 ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not ids:
            return {spec: {} for spec in specs}
        for spec in specs:
            if spec.startswith("metric:"):
                metric, variant, agg = _split_metric(spec[7:])
                col = _METRIC_AGG[agg]
                rows = s.execute(
                    select(SeriesRow.task_id, col).where(
                        SeriesRow.task_id.in_(ids),
                        SeriesRow.metric == metric,
                        SeriesRow.variant == variant,
                    )
                )
                out[spec] = {tid: encode_float(v) for tid, v in rows}
            elif spec.startswith("param:"):
                section, name = _split_param(spec[6:])
                rows = s.execute(
                    select(HyperParamRow.task_id, HyperParamRow.value).where(
                        HyperParamRow.task_id.in_(ids),
                        HyperParamRow.section == section,
                        HyperParamRow.name == name,
                    )
                )
                out[spec] = dict(rows.tuples().all())
            else:
                raise InvalidInput(f"unknown column {spec!r}: use 'param:S/n' or 'metric:t/s'")
        return out

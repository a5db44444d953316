"""Listing models with the tasks' query language: filters on columns, tags and metadata, sort,
custom columns of metadata, cursor pages.

Sort keys: a column (``name``, ``created_at``, ``updated_at``, ``published_at``, ``framework``,
``project``, ``owner``, ``iteration``, ``published``, ``id``) or a metadata value
(``meta:key``: numbers in numeric order first, then other values as text). Prefix ``-`` for
descending. Models without the value sort last either way.

Metadata values are compared as text (a number as its JSON text, a boolean as ``true`` or
``false``); ``> < >= <=`` compare numbers.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, case, cast, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from arno.core.errors import InvalidInput
from arno.core.limits import INT64_MAX, INT64_MIN
from arno.core.model_schemas import MAX_META_KEY, ModelPage
from arno.db.engine import Database
from arno.db.models import ModelRow, ModelTagRow, ProjectRow, UserRow
from arno.services.model_links import model_outs
from arno.services.task_query import (
    _as_number,
    _as_time,
    _compare,
    _decode_cursor,
    _encode_cursor,
    _numeric,
    _parse_filter,
    check_regex,
)

COLUMNS: dict[str, Any] = {
    "name": ModelRow.name,
    "created_at": ModelRow.created_at,
    "updated_at": ModelRow.updated_at,
    "published_at": ModelRow.published_at,
    "framework": ModelRow.framework,
    "project": ProjectRow.name,
    "owner": UserRow.username,
    "iteration": ModelRow.iteration,
    "published": ModelRow.published,
    "id": ModelRow.id,
}
FIELD_FILTERS = (
    "name", "framework", "owner", "project", "id", "task_id", "uri", "iteration", "created_at",
    "updated_at", "published_at",
)
_NOT_NULL = frozenset({"name", "created_at", "updated_at", "framework", "published", "id"})
_TIMES = ("created_at", "updated_at", "published_at")
_TEXT = {"name": ModelRow.name, "framework": ModelRow.framework, "id": ModelRow.id,
         "task_id": ModelRow.task_id, "uri": ModelRow.uri}


@dataclass
class ModelQuery:
    project: str | None = None
    include_subprojects: bool = True
    tags: list[str] = field(default_factory=list)
    """All must match; a tag starting with "-" must be absent."""
    name: str | None = None
    """Case-insensitive substring."""
    name_regex: str | None = None
    search: str | None = None
    """Substring of name, id, comment or tags."""
    frameworks: list[str] = field(default_factory=list)
    owner: str | None = None
    """Username or user id."""
    task: str | None = None
    """The creating task's id."""
    published: bool | None = None
    archived: bool | None = False
    meta: list[str] = field(default_factory=list)
    """``key<op>value`` with op among = != > < >= <= ~ (substring)."""
    fields: list[str] = field(default_factory=list)
    """``column<op>value`` on a column of ``FIELD_FILTERS``."""
    sort: list[str] = field(default_factory=lambda: ["-created_at"])
    limit: int = 50
    cursor: str | None = None
    columns: list[str] = field(default_factory=list)
    """``meta:key`` values to return per model."""


def _meta_key(key: str) -> str:
    if not key or len(key) > MAX_META_KEY or '"' in key or "\\" in key:
        raise InvalidInput(f"metadata key {key[:80]!r}: 1 to {MAX_META_KEY} characters, "
                           'no " or \\', details={"field": "meta"})
    return key


def meta_text(key: str, dialect: str) -> ColumnElement[Any]:
    """The text of metadata ``key``'s value (NULL when the model has none)."""
    key = _meta_key(key)
    if dialect == "postgresql":
        return func.json_extract_path_text(ModelRow.meta, literal(key), literal("value"))
    path = literal(f'$."{key}".value')
    kind = func.json_type(ModelRow.meta, path)
    # SQLite reads a JSON boolean as 1 or 0: spell it as PostgreSQL does
    return case((kind == "true", literal("true")), (kind == "false", literal("false")),
                else_=cast(func.json_extract(ModelRow.meta, path), String))


def _project_match(q: ModelQuery) -> ColumnElement[bool]:
    name = (q.project or "").strip().strip("/")
    if q.include_subprojects:
        return or_(ProjectRow.name == name, ProjectRow.name.like(f"{name}/%"),
                   ProjectRow.id == name)
    return or_(ProjectRow.name == name, ProjectRow.id == name)


def _field_condition(text: str) -> ColumnElement[bool]:
    key, op, value = _parse_filter(text)
    if key not in FIELD_FILTERS:
        raise InvalidInput(f"cannot filter on {key!r}: use one of {', '.join(FIELD_FILTERS)}",
                           details={"field": "field"})
    if key in _TIMES:
        if op == "~":
            raise InvalidInput(f"{key} compares times: use = != > < >= <=",
                               details={"field": "field"})
        return _compare(getattr(ModelRow, key), op, _as_time(value))
    if key == "iteration":
        if op == "~":
            raise InvalidInput("iteration compares numbers: use = != > < >= <=",
                               details={"field": "field"})
        number = _as_number(value, text)
        if not INT64_MIN <= number <= INT64_MAX:
            raise InvalidInput(f"{text!r}: iteration is a 64-bit integer",
                               details={"field": "field"})
        return _compare(ModelRow.iteration, op, int(number))
    if key == "project":
        return ModelRow.project_id.in_(
            select(ProjectRow.id).where(_compare(ProjectRow.name, op, value)))
    if key == "owner":
        return ModelRow.owner_id.in_(
            select(UserRow.id).where(_compare(UserRow.username, op, value)))
    return _compare(_TEXT[key], op, value)


def _conditions(q: ModelQuery, dialect: str) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if q.project:
        conds.append(ModelRow.project_id.in_(select(ProjectRow.id).where(_project_match(q))))
    for tag in q.tags:
        sub = select(ModelTagRow.model_id).where(ModelTagRow.tag == tag.lstrip("-"))
        conds.append(ModelRow.id.not_in(sub) if tag.startswith("-") else ModelRow.id.in_(sub))
    if q.name:
        conds.append(ModelRow.name.ilike(f"%{q.name}%"))
    if q.name_regex:
        check_regex(q.name_regex)
        conds.append(ModelRow.name.regexp_match(q.name_regex))
    if q.search:
        like = f"%{q.search}%"
        conds.append(or_(
            ModelRow.name.ilike(like), ModelRow.id.ilike(like), ModelRow.comment.ilike(like),
            ModelRow.id.in_(select(ModelTagRow.model_id).where(ModelTagRow.tag.ilike(like))),
        ))
    if q.frameworks:
        conds.append(ModelRow.framework.in_(q.frameworks))
    if q.owner:
        conds.append(or_(
            ModelRow.owner_id.in_(select(UserRow.id).where(UserRow.username == q.owner)),
            ModelRow.owner_id == q.owner,
        ))
    if q.task:
        conds.append(ModelRow.task_id == q.task)
    if q.published is not None:
        conds.append(ModelRow.published.is_(q.published))
    if q.archived is not None:
        conds.append(ModelRow.archived.is_(q.archived))
    for text in q.fields:
        conds.append(_field_condition(text))
    for text in q.meta:
        key, op, value = _parse_filter(text)
        col = meta_text(key, dialect)
        if op in (">", "<", ">=", "<="):
            conds.append(_compare(_numeric(col, dialect), op, _as_number(value, text)))
        else:
            conds.append(_compare(col, op, value))
    return conds


def _ordered(stmt: Any, keys: list[str], dialect: str) -> tuple[Any, list[Any]]:
    order: list[Any] = []
    joined: set[str] = set()
    for key in keys:
        desc = key.startswith("-")
        key = key.lstrip("-+")
        if key.startswith("meta:"):
            col: Any = meta_text(key[5:], dialect)
            num = _numeric(col, dialect)
            order.append(num.is_(None))
            order.append(num.desc() if desc else num.asc())
        elif key in COLUMNS:
            col = COLUMNS[key]
            if key == "project" and "project" not in joined:
                stmt = stmt.join(ProjectRow, ProjectRow.id == ModelRow.project_id)
                joined.add("project")
            if key == "owner" and "owner" not in joined:
                stmt = stmt.outerjoin(UserRow, UserRow.id == ModelRow.owner_id)
                joined.add("owner")
        else:
            raise InvalidInput(
                f"cannot sort by {key!r}: use a column ({', '.join(sorted(COLUMNS))}) or "
                "'meta:key'", details={"field": "sort"})
        if key not in _NOT_NULL:
            order.append(col.is_(None))
        order.append(col.desc() if desc else col.asc())
    return stmt, order


class ModelQueryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, q: ModelQuery) -> ModelPage:
        """One page of models: ids sorted on narrow rows first, then those models loaded."""
        if not 1 <= q.limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", details={"field": "limit"})
        for spec in q.columns:
            if not spec.startswith("meta:"):
                raise InvalidInput(f"unknown column {spec!r}: use 'meta:key'",
                                   details={"field": "column"})
            _meta_key(spec[5:])
        offset = _decode_cursor(q.cursor) if q.cursor else 0
        keys = q.sort or ["-created_at"]
        with self.db.read() as s:
            dialect = s.get_bind().dialect.name
            conds = _conditions(q, dialect)
            total = s.scalar(select(func.count()).select_from(ModelRow).where(*conds))
            stmt, order = _ordered(select(ModelRow.id), keys, dialect)
            stmt = stmt.where(*conds).order_by(*order, ModelRow.id.asc())
            ids = list(s.scalars(stmt.offset(offset).limit(q.limit + 1)))
            more = len(ids) > q.limit
            ids = ids[: q.limit]
            rows = {r.id: r for r in s.scalars(select(ModelRow).where(ModelRow.id.in_(ids)))
                    } if ids else {}
            items = model_outs(s, [rows[i] for i in ids if i in rows])
        return ModelPage(
            items=items,
            total=total or 0,
            next_cursor=_encode_cursor(offset + q.limit) if more else None,
            columns=self._columns(q.columns, items),
        )

    @staticmethod
    def _columns(specs: builtins.list[str], items: builtins.list[Any]
                 ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for spec in specs:
            key = spec[5:]
            out[spec] = {m.id: m.metadata[key]["value"] for m in items if key in m.metadata}
        return out

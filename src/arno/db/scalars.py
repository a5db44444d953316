"""The hot SQL of scalar series: the statements every reported batch and every chart runs.

Points go to the driver as plain tuples and come back as plain tuples: building SQLAlchemy
parameters or Row objects point by point would cost more than the database's own work. The
callers (``arno.services.events``) own the transaction and the rules; these functions only
read and write rows, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from arno.db.models import ScalarRow, SeriesRow, SingleValueRow

Point = tuple[int, int, float | None, float]
"""A point as stored: (series_id, iteration, value or None for NaN, timestamp)."""

_POINTS_UPSERT = (
    " ON CONFLICT (series_id, iteration) DO UPDATE"
    " SET value = excluded.value, timestamp = excluded.timestamp"
)
_IN_CHUNK = 1000
"""At most this many values in one ``IN (...)``."""


def series_of_task(s: Session, task_id: str) -> dict[tuple[str, str], SeriesRow]:
    """The task's series, by ``(metric, variant)``."""
    return {
        (r.metric, r.variant): r
        for r in s.scalars(select(SeriesRow).where(SeriesRow.task_id == task_id))
    }


def add_series(s: Session, task_id: str, metric: str, variant: str,
               first_iteration: int) -> SeriesRow:
    """A new, empty series (flushed: its id is known)."""
    row = SeriesRow(task_id=task_id, metric=metric, variant=variant, count=0,
                    last_iteration=first_iteration)
    s.add(row)
    s.flush()
    return row


def insert_points(s: Session, rows: Sequence[Point], *, replace: bool) -> None:
    """Store points; with ``replace``, those of an iteration already stored replace it
    (without, the caller knows none is stored: a plain insert is a third cheaper)."""
    if not rows:
        return
    conn = s.connection()
    upsert = _POINTS_UPSERT if replace else ""
    if conn.dialect.name == "postgresql":
        sids, its, values, stamps = (list(col) for col in zip(*rows, strict=True))
        conn.exec_driver_sql(
            "INSERT INTO scalars (series_id, iteration, value, timestamp) SELECT * FROM unnest("
            "%s::integer[], %s::bigint[], %s::double precision[], %s::double precision[])"
            + upsert,
            (sids, its, values, stamps),
        )
        return
    cur = conn.connection.cursor()
    try:
        cur.executemany(
            "INSERT INTO scalars (series_id, iteration, value, timestamp) VALUES (?, ?, ?, ?)"
            + upsert,
            rows,
        )
    finally:
        cur.close()


def count_stored(s: Session, series_id: int, iterations: Sequence[int]) -> int:
    """How many of ``iterations`` the series already holds a point for."""
    found = 0
    for i in range(0, len(iterations), _IN_CHUNK):
        found += s.scalar(
            select(func.count()).select_from(ScalarRow).where(
                ScalarRow.series_id == series_id,
                ScalarRow.iteration.in_(iterations[i:i + _IN_CHUNK]),
            )
        ) or 0
    return found


def value_range(s: Session, series_id: int) -> tuple[float | None, float | None]:
    """The smallest and largest stored value of the series (NaN, stored as NULL, ignored)."""
    lo, hi = s.execute(
        select(func.min(ScalarRow.value), func.max(ScalarRow.value)).where(
            ScalarRow.series_id == series_id
        )
    ).one()
    return lo, hi


def read_points(s: Session, series_id: int, *, with_timestamps: bool) -> list[tuple[Any, ...]]:
    """Every point of the series in iteration order: ``(iteration, value)``, or
    ``(iteration, value, timestamp)`` with ``with_timestamps``."""
    cols = "iteration, value, timestamp" if with_timestamps else "iteration, value"
    cur = s.connection().connection.cursor()
    try:
        cur.execute(
            f"SELECT {cols} FROM scalars WHERE series_id = {int(series_id)} ORDER BY iteration"
        )
        return list(cur.fetchall())
    finally:
        cur.close()


def upsert_single_values(s: Session, rows: list[dict[str, Any]]) -> None:
    """Store single values (``task_id``, ``name``, ``value``, ``timestamp``); a name already
    stored for the task takes the new value."""
    if not rows:
        return
    keys = ["task_id", "name"]
    table = cast(Table, SingleValueRow.__table__)
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        s.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), rows)
    elif dialect == "sqlite":
        stmt_s = sqlite.insert(table)
        update = {c: stmt_s.excluded[c] for c in rows[0] if c not in keys}
        s.execute(stmt_s.on_conflict_do_update(index_elements=keys, set_=update), rows)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        s.execute(insert(table), rows)

"""Summaries of long scalar series, kept up to date at ingest, so a chart of any length is
drawn from a few thousand rows instead of every point.

A series' points, in iteration order, are cut into blocks of ``2**shift`` consecutive points
for every shift in ``SHIFTS`` (levels 0, 1, ...). A block row holds the count and the first,
last, smallest and largest point of its block (iteration, value, timestamp each). Reading a
chart picks the coarsest level that still has enough blocks and merges neighbouring blocks into
buckets: every bucket keeps its first point, its minimum and its maximum, so spikes survive.

Points normally arrive in increasing iteration order and are appended to the blocks. A batch
that rewrites or inserts before the last stored iteration makes the series' blocks be rebuilt
from its points (rare: only re-reports of an earlier iteration do that).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from arno.db.models import ScalarBlockRow, SeriesRow

SHIFTS = (5, 7, 9, 11, 13, 15, 17, 19, 21, 23)
"""Level ``i`` holds ``2**SHIFTS[i]`` points per block (32, 128, 512, ...): any series has a
level with between ``n`` and ``4n`` blocks for the ``n`` buckets a chart wants."""

Point = tuple[int, float | None, float]
"""(iteration, value or None for NaN, timestamp)."""

# aggregate: [count, first, last, min, max] where first..max are Points (min/max None when
# every value of the block is NaN)
Agg = list[Any]


def _agg_of(points: Sequence[Point]) -> Agg:
    return _agg_cols([p[0] for p in points], [p[1] for p in points], [p[2] for p in points])


def _agg_cols(its: Sequence[int], values: Sequence[float | None], stamps: Sequence[float]
              ) -> Agg:
    """Aggregate of one block given as columns (slices are copied at C speed)."""
    n = len(its)
    if None in values:
        finite = [(v, i) for i, v in enumerate(values) if v is not None]
        lo_i = min(finite)[1] if finite else -1
        hi_i = max(finite, key=lambda t: (t[0], -t[1]))[1] if finite else -1
    else:
        numbers = cast("Sequence[float]", values)
        lo_i = numbers.index(min(numbers))
        hi_i = numbers.index(max(numbers))
    return [
        n,
        (its[0], values[0], stamps[0]),
        (its[-1], values[-1], stamps[-1]),
        (its[lo_i], values[lo_i], stamps[lo_i]) if lo_i >= 0 else None,
        (its[hi_i], values[hi_i], stamps[hi_i]) if hi_i >= 0 else None,
    ]


def _merge(a: Agg, b: Agg) -> Agg:
    """``a`` comes before ``b`` in iteration order."""
    lo = a[3] if b[3] is None or (a[3] is not None and a[3][1] <= b[3][1]) else b[3]
    hi = a[4] if b[4] is None or (a[4] is not None and a[4][1] >= b[4][1]) else b[4]
    return [a[0] + b[0], a[1], b[2], lo, hi]


def summarize(its: list[int], values: list[float | None], stamps: list[float],
              first_ordinal: int) -> dict[tuple[int, int], Agg]:
    """Block aggregates of points given as columns, sorted by iteration, whose first point is
    the ``first_ordinal``-th point of its series; blocks cut at the series' block boundaries."""
    out: dict[tuple[int, int], Agg] = {}
    if not its:
        return out
    block = first_ordinal >> SHIFTS[0]
    start = 0
    current: list[tuple[int, Agg]] = []
    while start < len(its):
        end = ((block + 1) << SHIFTS[0]) - first_ordinal
        current.append((block, _agg_cols(its[start:end], values[start:end], stamps[start:end])))
        start = end
        block += 1
    for level, shift in enumerate(SHIFTS):
        for b, agg in current:
            out[(level, b)] = agg
        if level + 1 == len(SHIFTS):
            break
        up = SHIFTS[level + 1] - shift
        merged: list[tuple[int, Agg]] = []
        for b, agg in current:
            parent = b >> up
            if merged and merged[-1][0] == parent:
                merged[-1] = (parent, _merge(merged[-1][1], agg))
            else:
                merged.append((parent, agg))
        current = merged
    return out


_COLUMNS = (
    "series_id, level, block, count, first_iteration, first_value, first_timestamp, "
    "last_iteration, last_value, last_timestamp, min_iteration, min_value, min_timestamp, "
    "max_iteration, max_value, max_timestamp"
)


def _upsert_sql(paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    t = "scalar_blocks"
    sets = [f"count = {t}.count + excluded.count"]
    sets += [f"last_{p} = excluded.last_{p}" for p in ("iteration", "value", "timestamp")]
    for kind, op in (("min", "<"), ("max", ">")):
        cond = f"{t}.{kind}_value IS NULL OR excluded.{kind}_value {op} {t}.{kind}_value"
        sets += [
            f"{kind}_{p} = CASE WHEN {cond} THEN excluded.{kind}_{p} ELSE {t}.{kind}_{p} END"
            for p in ("iteration", "value", "timestamp")
        ]
    return (
        f"INSERT INTO {t} ({_COLUMNS}) VALUES ({', '.join([mark] * 16)}) "
        f"ON CONFLICT (series_id, level, block) DO UPDATE SET {', '.join(sets)}"
    )


def _row(series_id: int, key: tuple[int, int], agg: Agg) -> tuple[Any, ...]:
    lo = agg[3] or (None, None, None)
    hi = agg[4] or (None, None, None)
    return (series_id, key[0], key[1], agg[0], *agg[1], *agg[2], *lo, *hi)


def append(s: Session, series_id: int, its: list[int], values: list[float | None],
           stamps: list[float], first_ordinal: int) -> None:
    """Fold points (columns sorted by iteration) that come after every stored point of the
    series into its blocks."""
    aggs = summarize(its, values, stamps, first_ordinal)
    if not aggs:
        return
    conn = s.connection()
    conn.exec_driver_sql(
        _upsert_sql(conn.dialect.paramstyle),
        [_row(series_id, k, a) for k, a in aggs.items()],
    )


def rebuild(s: Session, series_id: int) -> None:
    """Recompute every block of a series from its stored points."""
    s.execute(delete(ScalarBlockRow).where(ScalarBlockRow.series_id == series_id))
    points = _raw(s, series_id)
    if points:
        its, values, stamps = (list(col) for col in zip(*points, strict=True))
        append(s, series_id, its, values, stamps, 0)


def rebuild_all(s: Session) -> None:
    for sid in s.scalars(select(SeriesRow.id)).all():
        rebuild(s, sid)


# ---- reading ---------------------------------------------------------------------------------


def _raw(s: Session, series_id: int) -> list[Point]:
    cur = s.connection().exec_driver_sql(
        "SELECT iteration, value, timestamp FROM scalars WHERE series_id = "
        f"{int(series_id)} ORDER BY iteration"
    )
    return [tuple(r) for r in cur.fetchall()]


def _emit(aggs: Iterable[Agg]) -> list[Point]:
    out: list[Point] = []
    last: Point | None = None
    for agg in aggs:
        picks = {p[0]: p for p in (agg[1], agg[3], agg[4]) if p is not None}
        out.extend(sorted(picks.values(), key=lambda p: p[0]))
        last = agg[2]
    if last is not None and (not out or out[-1][0] != last[0]):
        out.append(last)
    return out


def _low(r: Sequence[Any]) -> float:
    return r[8] if r[8] is not None else math.inf


def _high(r: Sequence[Any]) -> float:
    return r[11] if r[11] is not None else -math.inf


def _emit_rows(rows: Sequence[Sequence[Any]], buckets: int) -> list[Point]:
    """Points of block rows (count, then first, last, min and max as iteration, value,
    timestamp) merged ``per`` at a time: each bucket's first point, minimum and maximum."""
    per = max(1, math.ceil(len(rows) / buckets))
    out: list[Point] = []
    for g in range(0, len(rows), per):
        grp = rows[g : g + per]
        r0 = grp[0]
        lo = r0 if per == 1 else min(grp, key=_low)
        hi = r0 if per == 1 else max(grp, key=_high)
        picks = {r0[1]: (r0[1], r0[2], r0[3])}
        if lo[7] is not None:
            picks[lo[7]] = (lo[7], lo[8], lo[9])
        if hi[10] is not None:
            picks[hi[10]] = (hi[10], hi[11], hi[12])
        out.extend(picks[k] for k in sorted(picks))
    end = rows[-1]
    if out[-1][0] != end[4]:
        out.append((end[4], end[5], end[6]))
    return out


def downsample_points(points: list[Point], max_points: int) -> list[Point]:
    buckets = max(1, max_points // 3)
    per = max(1, math.ceil(len(points) / buckets))
    return _emit(_agg_of(points[i : i + per]) for i in range(0, len(points), per))


def read(s: Session, series_id: int, count: int, max_points: int | None) -> tuple[list[Point],
                                                                                bool]:
    """The series' points, or about ``max_points`` of them keeping each bucket's first point,
    minimum and maximum (and the last point). Returns (points, sampled)."""
    if not max_points or count <= max_points:
        return _raw(s, series_id), False
    buckets = max(1, max_points // 3)
    # the coarsest level that still has a block per bucket (at most 4 per bucket to merge);
    # a series too short for that uses its finest blocks if they give a quarter of the
    # buckets, and its points otherwise
    level = -1
    for i, shift in enumerate(SHIFTS):
        if math.ceil(count / (1 << shift)) >= buckets:
            level = i
    if level < 0 and math.ceil(count / (1 << SHIFTS[0])) >= max(1, buckets // 4):
        level = 0
    if level < 0:  # short enough to thin from the points themselves
        return downsample_points(_raw(s, series_id), max_points), True
    cur = s.connection().exec_driver_sql(
        "SELECT count, first_iteration, first_value, first_timestamp, last_iteration, "
        "last_value, last_timestamp, min_iteration, min_value, min_timestamp, max_iteration, "
        "max_value, max_timestamp FROM scalar_blocks WHERE series_id = "
        f"{int(series_id)} AND level = {level} ORDER BY block"
    )
    rows = cur.fetchall()
    if not rows:  # blocks missing (should not happen): fall back to the points
        return downsample_points(_raw(s, series_id), max_points), True
    return _emit_rows(rows, buckets), True

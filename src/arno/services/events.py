"""Reported events: scalars, single values, plots, debug samples, console lines.

A batch is applied in one transaction together with its id, so a batch retried after a lost
answer (or re-sent from the client's spool) is stored exactly once.
"""

from __future__ import annotations

import json
import math
import re
from itertools import repeat
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from arno.core.errors import Immutable, InvalidInput, NotFound
from arno.core.floats import encode_float
from arno.core.ids import is_id, utcnow
from arno.core.lines import TRUNCATION_MARKER
from arno.core.schemas import (
    BatchResult,
    ConsoleLineOut,
    DebugSampleOut,
    EventBatch,
    PlotOut,
    ScalarSeriesOut,
    SingleValueOut,
)
from arno.core.status import TaskStatus
from arno.db import scalar_blocks
from arno.db import scalars as scalar_sql
from arno.db.engine import Database
from arno.db.models import (
    ConsoleRow,
    DebugSampleRow,
    IngestBatchRow,
    PlotRow,
    SeriesRow,
    SingleValueRow,
    TaskRow,
)
from arno.services.principal import Principal
from arno.services.tasks import get_task_row

_MARKER_AT_END = re.compile(r" \.\.\. \[truncated (\d+) characters\]\Z")


def _finite(v: float) -> float | None:
    """Value as stored: NaN becomes NULL."""
    return None if math.isnan(v) else v


def _claim_batch(s: Session, batch_id: str, task_id: str) -> bool:
    """Record a batch id in the transaction that stores the batch; False when it is recorded
    already (a retried batch). Plain statements, no ORM object to flush."""
    seen = s.execute(
        select(IngestBatchRow.batch_id).where(IngestBatchRow.batch_id == batch_id)
    ).first()
    if seen is not None:
        return False
    s.execute(insert(cast(Table, IngestBatchRow.__table__)).values(
        batch_id=batch_id, task_id=task_id, received_at=utcnow()))
    return True


def _nanmin(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _nanmax(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


class EventService:
    def __init__(self, db: Database, *, max_console_line: int = 1 << 20) -> None:
        self.db = db
        self.max_console_line = max_console_line

    # ---- ingest ------------------------------------------------------------------------------
    def ingest(self, task_id: str, batch: EventBatch, who: Principal | None = None
               ) -> BatchResult:
        """Store a batch in one transaction. With ``who``, only the task's owner or an admin
        may report into it (checked in the same transaction, one read fewer per batch)."""
        for series in batch.scalars:
            n = len(series.iterations)
            if len(series.values) != n or len(series.timestamps) != n:
                raise InvalidInput(
                    f"series {series.metric}/{series.variant}: iterations, values and "
                    "timestamps must have the same length"
                )
        points = sum(len(x.iterations) for x in batch.scalars)
        with self.db.write() as s:
            # the columns needed, not the whole task (its script can be large JSON)
            task = s.execute(
                select(TaskRow.id, TaskRow.owner_id, TaskRow.created_by_task_id, TaskRow.status,
                       TaskRow.last_iteration)
                .where(TaskRow.id == task_id)
            ).first() if is_id(task_id) else None
            if task is None:
                raise NotFound(f"no task {task_id!r}")
            if who is not None:
                who.require_task_owner(task)
            if task.status == TaskStatus.published:
                raise Immutable("task is published; clone it to report more")
            if not _claim_batch(s, batch.batch_id, task_id):
                return BatchResult(batch_id=batch.batch_id, duplicate=True, points=points)
            last_iter = self._ingest_scalars(s, task_id, batch)
            scalar_sql.upsert_single_values(s, [
                {"task_id": task_id, "name": v.name, "value": _finite(v.value),
                 "timestamp": v.timestamp}
                for v in {v.name: v for v in batch.single_values}.values()
            ])
            if batch.plots:
                s.execute(
                    insert(cast(Table, PlotRow.__table__)),
                    [
                        {"task_id": task_id, "metric": p.metric, "variant": p.variant,
                         "iteration": p.iteration, "figure": json.dumps(p.figure, default=str),
                         "timestamp": p.timestamp}
                        for p in batch.plots
                    ],
                )
            if batch.debug_samples:
                s.execute(
                    insert(cast(Table, DebugSampleRow.__table__)),
                    [{"task_id": task_id, **d.model_dump()} for d in batch.debug_samples],
                )
            if batch.console:
                s.execute(
                    insert(cast(Table, ConsoleRow.__table__)),
                    [
                        {"task_id": task_id, "stream": c.stream,
                         "text": self._clip(c.text), "timestamp": c.timestamp}
                        for c in batch.console
                    ],
                )
            candidates = [x for x in (last_iter, batch.last_iteration) if x is not None]
            if candidates:
                top = max(candidates)
                if task.last_iteration is None or top > task.last_iteration:
                    s.execute(update(cast(Table, TaskRow.__table__))
                              .where(TaskRow.id == task_id).values(last_iteration=top))
        return BatchResult(batch_id=batch.batch_id, duplicate=False, points=points)

    def _clip(self, text: str) -> str:
        if "\x00" in text:  # PostgreSQL text cannot hold NUL: keep the line, mark the byte
            text = text.replace("\x00", "\ufffd")
        if len(text) <= self.max_console_line:
            return text
        # A line the client already truncated keeps its marker (and the count it names).
        marked = _MARKER_AT_END.search(text)
        body, cut = (text[: marked.start()], int(marked.group(1))) if marked else (text, 0)
        if len(body) > self.max_console_line:
            cut += len(body) - self.max_console_line
            body = body[: self.max_console_line]
        return body + TRUNCATION_MARKER.format(n=cut)

    def _ingest_scalars(self, s: Session, task_id: str, batch: EventBatch) -> int | None:
        if not batch.scalars:
            return None
        existing = scalar_sql.series_of_task(s, task_id)
        rows: list[scalar_sql.Point] = []  # after every stored point
        rewrites: list[scalar_sql.Point] = []  # may replace stored points
        rebuild: list[int] = []
        top: int | None = None
        merged: dict[tuple[str, str], Any] = {}
        for series in batch.scalars:
            key = (series.metric, series.variant)
            if key in merged:  # the same series twice in one batch: concatenate
                prev = merged[key]
                merged[key] = prev.model_copy(
                    update={
                        "iterations": prev.iterations + series.iterations,
                        "values": prev.values + series.values,
                        "timestamps": prev.timestamps + series.timestamps,
                    }
                )
            else:
                merged[key] = series
        for series in merged.values():
            if not series.iterations:
                continue
            row = existing.get((series.metric, series.variant))
            if row is None:
                row = scalar_sql.add_series(s, task_id, series.metric, series.variant,
                                            series.iterations[0])
                existing[(series.metric, series.variant)] = row
                fresh = True
            else:
                fresh = False
            # One value per iteration: the last report of an iteration wins. The usual batch
            # (iterations increasing, no NaN) takes only whole-list operations, run in C.
            its, vals, stamps = series.iterations, series.values, series.timestamps
            if its != sorted(set(its)):  # out of order or repeated
                points = dict(zip(its, zip(vals, stamps, strict=True), strict=True))
                ordered = sorted(points.items())
                its = [it for it, _ in ordered]
                vals = [p[0] for _, p in ordered]
                stamps = [p[1] for _, p in ordered]
            stored: list[float | None]
            total = sum(vals)
            if total == total:  # no NaN among them (one NaN makes the sum NaN)
                stored = list(vals)
                finite = vals
            else:  # NaN (the only value unequal to itself) is stored as NULL
                stored = [v if v == v else None for v in vals]
                finite = [v for v in vals if v == v]
            sid = row.id
            new_rows = list(zip(repeat(sid), its, stored, stamps))
            if fresh or its[0] > row.last_iteration:  # appended: fold into the blocks
                rows.extend(new_rows)
                scalar_blocks.append(s, sid, its, stored, stamps, row.count or 0)
            else:  # rewrites or inserts before the end: summarise again once stored
                rewrites.extend(new_rows)
                rebuild.append(sid)
            lo = min(finite) if finite else None
            hi = max(finite) if finite else None
            if fresh:
                row.min_value, row.max_value = lo, hi
            else:
                row.min_value = _nanmin(row.min_value, lo)
                row.max_value = _nanmax(row.max_value, hi)
            added = len(its)
            if not fresh and its[0] <= row.last_iteration:
                # points of iterations already stored replace them: not counted again
                added -= scalar_sql.count_stored(
                    s, sid, [it for it in its if it <= row.last_iteration])
            last_it = its[-1]
            if fresh or last_it >= row.last_iteration:
                row.last_iteration = last_it
                row.last_value = stored[-1]
            row.count = (row.count or 0) + added
            top = last_it if top is None else max(top, last_it)
        scalar_sql.insert_points(s, rows, replace=False)
        scalar_sql.insert_points(s, rewrites, replace=True)
        for sid in rebuild:
            scalar_blocks.rebuild(s, sid)
        for row in existing.values():
            if row.id in rebuild:  # a replaced point may have been the minimum or maximum
                row.min_value, row.max_value = scalar_sql.value_range(s, row.id)
        return top

    # ---- read --------------------------------------------------------------------------------
    def scalars(
        self,
        task_id: str,
        *,
        metric: str | None = None,
        variant: str | None = None,
        max_points: int | None = None,
        with_timestamps: bool = False,
    ) -> list[ScalarSeriesOut]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            q = select(SeriesRow).where(SeriesRow.task_id == task_id)
            if metric is not None:
                q = q.where(SeriesRow.metric == metric)
            if variant is not None:
                q = q.where(SeriesRow.variant == variant)
            out = []
            for series in s.scalars(q.order_by(SeriesRow.metric, SeriesRow.variant)).all():
                if max_points and (series.count or 0) > max_points:
                    # long series: drawn from their block summaries, min and max kept
                    rows, sampled = scalar_blocks.read(s, series.id, series.count, max_points)
                    total = series.count
                else:
                    rows = scalar_sql.read_points(s, series.id, with_timestamps=with_timestamps)
                    total = len(rows)
                    sampled = False
                    if max_points and total > max_points:
                        rows = _downsample(rows, max_points)
                        sampled = True
                ys: list[Any] = [r[1] for r in rows]
                try:  # one pass in C: a NaN or an infinity makes the sum non-finite
                    clean = math.isfinite(sum(ys))
                except TypeError:  # a NULL (NaN) among them
                    clean = False
                if not clean:
                    ys = [v if v is not None and math.isfinite(v) else encode_float(v)
                          for v in ys]
                out.append(
                    ScalarSeriesOut.model_construct(
                        metric=series.metric,
                        variant=series.variant,
                        x=[r[0] for r in rows],
                        y=ys,
                        timestamps=[r[2] for r in rows] if with_timestamps else None,
                        total=total,
                        sampled=sampled,
                    )
                )
            return out

    def single_values(self, task_id: str) -> list[SingleValueOut]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            rows = s.scalars(
                select(SingleValueRow)
                .where(SingleValueRow.task_id == task_id)
                .order_by(SingleValueRow.name)
            )
            return [
                SingleValueOut(name=r.name, value=encode_float(r.value), timestamp=r.timestamp)
                for r in rows
            ]

    def plots(self, task_id: str, *, metric: str | None = None) -> list[PlotOut]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            q = select(PlotRow).where(PlotRow.task_id == task_id)
            if metric:
                q = q.where(PlotRow.metric == metric)
            return [
                PlotOut(id=r.id, metric=r.metric, variant=r.variant, iteration=r.iteration,
                        figure=json.loads(r.figure), timestamp=r.timestamp)
                for r in s.scalars(q.order_by(PlotRow.id))
            ]

    def debug_samples(
        self, task_id: str, *, metric: str | None = None, iteration: int | None = None
    ) -> list[DebugSampleOut]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            q = select(DebugSampleRow).where(DebugSampleRow.task_id == task_id)
            if metric:
                q = q.where(DebugSampleRow.metric == metric)
            if iteration is not None:
                q = q.where(DebugSampleRow.iteration == iteration)
            return [
                DebugSampleOut(
                    id=r.id, metric=r.metric, variant=r.variant, iteration=r.iteration,
                    kind=r.kind, hash=r.hash, url=r.url, content_type=r.content_type,
                    size=r.size, timestamp=r.timestamp,
                )
                for r in s.scalars(q.order_by(DebugSampleRow.iteration, DebugSampleRow.id))
            ]

    def console(
        self, task_id: str, *, after: int = 0, limit: int = 1000, tail: bool = False,
        search: str | None = None,
    ) -> list[ConsoleLineOut]:
        if not 1 <= limit <= 100_000:
            raise InvalidInput("limit must be between 1 and 100000")
        with self.db.read() as s:
            get_task_row(s, task_id)
            q = select(ConsoleRow).where(ConsoleRow.task_id == task_id, ConsoleRow.id > after)
            if search:
                q = q.where(ConsoleRow.text.ilike(f"%{search}%"))
            if tail:
                rows = list(s.scalars(q.order_by(ConsoleRow.id.desc()).limit(limit)))[::-1]
            else:
                rows = list(s.scalars(q.order_by(ConsoleRow.id).limit(limit)))
            return [
                ConsoleLineOut(id=r.id, stream=r.stream, text=r.text, timestamp=r.timestamp)
                for r in rows
            ]

    def reset_outputs(self, task_id: str) -> None:
        with self.db.write() as s:
            get_task_row(s, task_id)
            for table in (SeriesRow, SingleValueRow, PlotRow, DebugSampleRow, ConsoleRow):
                s.execute(delete(table).where(table.task_id == task_id))
            s.execute(delete(IngestBatchRow).where(IngestBatchRow.task_id == task_id))
            task = s.get(TaskRow, task_id)
            if task is not None:
                task.last_iteration = None


def _downsample(rows: list[Any], n: int) -> list[Any]:
    """Keep the shape of a long series in about ``n`` points: per bucket, the first point and
    the bucket's minimum and maximum, so spikes survive."""
    if n < 3:
        n = 3
    per = max(1, math.ceil(len(rows) / (n // 3)))
    out: list[Any] = []
    for start in range(0, len(rows), per):
        bucket = rows[start : start + per]
        finite = [r for r in bucket if r[1] is not None]
        picks = {id(bucket[0]): bucket[0]}
        if finite:
            lo = min(finite, key=lambda r: r[1])
            hi = max(finite, key=lambda r: r[1])
            picks[id(lo)] = lo
            picks[id(hi)] = hi
        out.extend(sorted(picks.values(), key=lambda r: r[0]))
    if out[-1] is not rows[-1]:
        out.append(rows[-1])
    return out

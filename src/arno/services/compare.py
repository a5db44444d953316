"""Side-by-side views of several tasks: their inputs, their metric summaries, and a CSV of the
summaries."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from arno.core.errors import InvalidInput
from arno.core.schemas import TaskDetail
from arno.services.tasks import TaskService

MAX_TASKS = 20


@dataclass
class CompareRow:
    key: str
    values: list[Any]
    differs: bool = False


@dataclass
class Comparison:
    tasks: list[TaskDetail]
    fields: list[CompareRow] = field(default_factory=list)
    params: list[CompareRow] = field(default_factory=list)
    metrics: list[tuple[str, str, list[dict[str, Any] | None]]] = field(default_factory=list)
    """(metric, variant, per task {"last", "min", "max", "last_iteration"} or None)."""


def _differs(values: list[Any]) -> bool:
    return len({repr(v) for v in values}) > 1


def parse_ids(raw: list[str]) -> list[str]:
    ids: list[str] = []
    for item in raw:
        for part in item.replace(" ", ",").split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    return ids


class CompareService:
    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    def compare(self, ids: list[str]) -> Comparison:
        if not 1 <= len(ids) <= MAX_TASKS:
            raise InvalidInput(f"compare takes 1 to {MAX_TASKS} tasks, got {len(ids)}")
        details = [self.tasks.detail(i) for i in ids]
        out = Comparison(details)
        for label, get in (
            ("name", lambda t: t.name),
            ("project", lambda t: t.project),
            ("status", lambda t: str(t.status)),
            ("type", lambda t: t.type),
            ("tags", lambda t: ", ".join(t.tags)),
            ("owner", lambda t: t.owner or ""),
            ("last iteration", lambda t: t.last_iteration),
            ("repository", lambda t: t.script.get("repository") or ""),
            ("commit", lambda t: t.script.get("commit") or ""),
            ("entry point", lambda t: t.script.get("entry_point") or ""),
            ("parent", lambda t: t.parent_id or ""),
        ):
            values = [get(t) for t in details]
            out.fields.append(CompareRow(label, values, _differs(values)))
        keys: list[str] = []
        flat: list[dict[str, str]] = []
        for t in details:
            d = {f"{p.section}/{p.name}": p.value for p in t.hyperparams}
            d.update({f"Configuration/{c.name}": c.value for c in t.configurations})
            flat.append(d)
            keys.extend(k for k in d if k not in keys)
        for key in sorted(keys):
            values = [d.get(key) for d in flat]
            out.params.append(CompareRow(key, values, _differs(values)))
        series: dict[tuple[str, str], list[dict[str, Any] | None]] = {}
        for i, t in enumerate(details):
            for m in t.metrics:
                row = series.setdefault((m.metric, m.variant), [None] * len(details))
                row[i] = {"last": m.last, "min": m.min, "max": m.max,
                          "last_iteration": m.last_iteration}
        # machine statistics (":monitor:...") after the task's own metrics
        out.metrics = [(m, v, vals) for (m, v), vals in sorted(
            series.items(), key=lambda kv: (kv[0][0].startswith(":monitor:"), kv[0]))]
        return out

    def scalars_csv(self, ids: list[str]) -> str:
        """One line per task and series: last, min and max values."""
        cmp = self.compare(ids)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["metric", "variant", "task_id", "task_name", "last", "min", "max",
                    "last_iteration"])
        for metric, variant, values in cmp.metrics:
            for task, v in zip(cmp.tasks, values, strict=True):
                if v is None:
                    continue
                w.writerow([metric, variant, task.id, task.name, v["last"], v["min"], v["max"],
                            v["last_iteration"]])
        return buf.getvalue()

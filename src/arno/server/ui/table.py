"""The experiment table's view state: everything lives in the query string (so a URL shares
the whole view), and becomes one ``TaskQuery``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from arno.core.status import TaskStatus, TaskType
from arno.services.task_query import TaskQuery

OPS = (">=", "<=", "!=", "=", ">", "<", "~")
PAGE_SIZES = (25, 50, 100, 200, 500)
COLUMNS_COOKIE = "arno_cols_"


@dataclass(frozen=True)
class Column:
    key: str
    """Filter key (``f.<key>`` in the URL) and sort key."""
    label: str
    kind: str = "text"
    """text, number, time, duration, param, metric, tags, status, type."""
    sortable: bool = True
    hint: str = ""


BUILTIN = [
    Column("status", "Status", "status"),
    Column("name", "Name", "text", hint="contains"),
    Column("type", "Type", "type"),
    Column("tags", "Tags", "tags", sortable=False, hint="tag, -tag"),
    Column("owner", "Owner", "text", hint="contains"),
    Column("started_at", "Started", "time", hint=">=2024-01-31"),
    Column("duration", "Duration", "duration", hint=">10m"),
    Column("last_iteration", "Iteration", "number", hint=">100"),
]
PROJECT_COLUMN = Column("project", "Project", "text", hint="contains")
_DEFAULT_OP = {"text": "~", "number": "=", "time": ">=", "duration": ">=", "param": "=",
               "metric": "<="}


def extra_column(spec: str) -> Column:
    if spec.startswith("param:"):
        return Column(spec, spec[6:], "param", hint="=value, >0.1, ~text")
    body = spec[7:]
    agg = "last"
    for candidate in ("min", "max", "last"):
        if body.endswith(":" + candidate):
            agg, body = candidate, body[: -len(candidate) - 1]
    label = body if agg == "last" else f"{body} ({agg})"
    return Column(spec, label, "metric", hint="<0.5, >=0.9")


def _split_op(expr: str, default: str) -> tuple[str, str]:
    expr = expr.strip()
    for op in OPS:
        if expr.startswith(op):
            return op, expr[len(op):].strip()
    return default, expr


def _valid_spec(spec: str) -> bool:
    if spec.startswith("param:"):
        return "/" in spec[6:]
    return spec.startswith("metric:") and "/" in spec[7:]


@dataclass
class TableState:
    project: str | None = None
    search: str = ""
    status: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    archived: bool = False
    sort: str = "-created_at"
    columns: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    limit: int = 50
    cursor: str | None = None
    start: int = 0
    columns_from_cookie: bool = False

    # ---- parsing -----------------------------------------------------------------------------
    @classmethod
    def parse(cls, qp: QueryParams, cookies: dict[str, str]) -> TableState:
        st = cls()
        st.project = (qp.get("project") or "").strip().strip("/") or None
        st.search = (qp.get("q") or "").strip()
        st.status = [s for s in qp.getlist("status") if s in TaskStatus.__members__]
        st.types = [t for t in qp.getlist("type") if t in TaskType.__members__]
        st.tags = [t.strip() for raw in qp.getlist("tag") for t in raw.split(",") if t.strip()]
        st.archived = qp.get("archived") in ("1", "true", "on")
        st.sort = (qp.get("sort") or "-created_at").strip()
        if "col" in qp:
            st.columns = [c for c in qp.getlist("col") if c and _valid_spec(c)]
        else:
            raw = cookies.get(cls.cookie_name(st.project))
            if raw:
                try:
                    st.columns = [c for c in json.loads(raw) if isinstance(c, str)
                                  and _valid_spec(c)][:40]
                    st.columns_from_cookie = True
                except ValueError:
                    st.columns = []
        st.columns = list(dict.fromkeys(st.columns))
        for key, value in qp.multi_items():
            if key.startswith("f.") and value.strip():
                st.filters[key[2:]] = value.strip()
        try:
            st.limit = int(qp.get("limit") or 50)
        except ValueError:
            st.limit = 50
        if st.limit not in PAGE_SIZES:
            st.limit = 50
        st.cursor = qp.get("cursor") or None
        try:
            st.start = max(0, int(qp.get("start") or 0)) if st.cursor else 0
        except ValueError:
            st.start = 0
        return st

    @staticmethod
    def cookie_name(project: str | None) -> str:
        return COLUMNS_COOKIE + hashlib.sha1((project or "*").encode()).hexdigest()[:12]

    # ---- the query ---------------------------------------------------------------------------
    def query(self) -> TaskQuery:
        q = TaskQuery(
            project=self.project,
            status=list(self.status),
            tags=list(self.tags),
            search=self.search or None,
            archived=True if self.archived else False,
            types=list(self.types),
            sort=[self.sort, "-created_at"] if self.sort.lstrip("-") != "created_at"
            else [self.sort],
            limit=self.limit,
            cursor=self.cursor,
            columns=list(self.columns),
        )
        kinds = {c.key: c.kind for c in self.all_columns()}
        for key, expr in self.filters.items():
            kind = kinds.get(key)
            if kind is None and _valid_spec(key):
                kind = "param" if key.startswith("param:") else "metric"
            if kind is None or kind in ("status", "type"):
                continue
            if kind == "tags":
                q.tags.extend(t.strip() for t in expr.split(",") if t.strip())
                continue
            op, value = _split_op(expr, _DEFAULT_OP.get(kind, "~"))
            if kind == "param":
                q.params.append(f"{key[6:]}{op}{value}")
            elif kind == "metric":
                q.metrics.append(f"{key[7:]}{op}{value}")
            else:
                q.fields.append(f"{key}{op}{value}")
        return q

    # ---- columns and URLs --------------------------------------------------------------------
    def all_columns(self) -> list[Column]:
        cols = list(BUILTIN)
        cols.insert(2, PROJECT_COLUMN)
        return cols + [extra_column(c) for c in self.columns]

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The state as query parameters, with some changed (None drops one)."""
        base: dict[str, Any] = {
            "project": self.project,
            "q": self.search,
            "status": self.status,
            "type": self.types,
            "tag": self.tags,
            "archived": "1" if self.archived else None,
            "sort": None if self.sort == "-created_at" else self.sort,
            "col": self.columns or [""],
            "limit": None if self.limit == 50 else self.limit,
        }
        base.update({k: v for k, v in changes.items() if not k.startswith("f.")})
        out: list[tuple[str, str]] = []
        for key, value in base.items():
            if value is None or value == "" or value == []:
                continue
            for v in value if isinstance(value, list) else [value]:
                out.append((key, str(v)))
        filters = dict(self.filters)
        for key, value in changes.items():
            if key.startswith("f."):
                if value is None:
                    filters.pop(key[2:], None)
                else:
                    filters[key[2:]] = value
        out.extend((f"f.{k}", v) for k, v in filters.items())
        return out

    def url(self, **changes: Any) -> str:
        params = self.params(**changes)
        return "/tasks" + ("?" + urlencode(params) if params else "")

    def sort_url(self, key: str) -> str:
        current = self.sort.lstrip("-")
        desc = self.sort.startswith("-")
        if current == key:
            new = key if desc else "-" + key
        else:
            new = "-" + key if key in ("started_at", "created_at", "last_iteration",
                                       "duration") else key
        return self.url(sort=new, cursor=None)

    def sort_dir(self, key: str) -> str:
        if self.sort.lstrip("-") != key:
            return ""
        return "desc" if self.sort.startswith("-") else "asc"

    def hidden_fields(self, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """The state a filter form carries along in hidden inputs."""
        keep = {"project", "sort", "col", "limit", "archived"} - set(exclude)
        return [(k, v) for k, v in self.params() if k in keep]

"""The model pages' view helpers: the models table's state (all in the query string, so a URL
shares the whole view) and the lineage graph drawn as boxes in columns."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

PAGE_SIZES = (25, 50, 100, 200, 500)
COLUMNS_COOKIE = "arno_mcols_"
MAX_COLUMNS = 40
META_OPS = (">=", "<=", "!=", "=", ">", "<", "~")
STATES = ("published", "draft")


@dataclass(frozen=True)
class Column:
    key: str
    """Sort key (and ``meta:KEY`` for a metadata column)."""
    label: str
    kind: str = "text"
    sortable: bool = True


BUILTIN = [
    Column("name", "Name"),
    Column("project", "Project"),
    Column("framework", "Framework"),
    Column("published", "State", "state"),
    Column("tags", "Tags", "tags", sortable=False),
    Column("owner", "Owner"),
    Column("iteration", "Iteration", "number"),
    Column("size", "Size", "size", sortable=False),
    Column("created_at", "Created", "time"),
]
_DESC_FIRST = ("created_at", "updated_at", "iteration", "published")


def valid_meta(spec: str) -> bool:
    key = spec[5:] if spec.startswith("meta:") else ""
    return bool(key.strip()) and len(spec) <= 260


def meta_filter(key: str, expr: str) -> str:
    """``key<op>value`` for the query from a filter cell (``=`` when no operator is typed)."""
    expr = expr.strip()
    for op in META_OPS:
        if expr.startswith(op):
            return f"{key}{op}{expr[len(op):].strip()}"
    return f"{key}={expr}"


@dataclass
class ModelTableState:
    project: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    state: str = ""
    archived: bool = False
    sort: str = "-created_at"
    columns: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    """Filters on metadata columns: ``meta:KEY`` -> expression typed in its cell."""
    limit: int = 50
    cursor: str | None = None
    start: int = 0

    @classmethod
    def parse(cls, qp: QueryParams, cookies: dict[str, str]) -> ModelTableState:
        st = cls()
        st.project = (qp.get("project") or "").strip().strip("/")
        st.name = (qp.get("q") or "").strip()[:256]
        st.tags = [t.strip() for raw in qp.getlist("tag") for t in raw.split(",")
                   if t.strip()][:20]
        st.frameworks = [f.strip() for raw in qp.getlist("framework") for f in raw.split(",")
                         if f.strip()][:20]
        st.state = qp.get("state") or ""
        if st.state not in STATES:
            st.state = ""
        st.archived = qp.get("archived") in ("1", "true", "on")
        st.sort = (qp.get("sort") or "-created_at").strip()
        if not _valid_sort(st.sort):
            st.sort = "-created_at"
        if "col" in qp:
            st.columns = [c.strip() for c in qp.getlist("col") if valid_meta(c.strip())]
        else:
            raw = cookies.get(cls.cookie_name(st.project))
            if raw:
                try:
                    st.columns = [c for c in json.loads(raw)
                                  if isinstance(c, str) and valid_meta(c)]
                except ValueError:
                    st.columns = []
        st.columns = list(dict.fromkeys(st.columns))[:MAX_COLUMNS]
        for key, value in qp.multi_items():
            if key.startswith("f.meta:") and valid_meta(key[2:]) and value.strip():
                st.meta[key[2:]] = value.strip()[:256]
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
    def cookie_name(project: str) -> str:
        return COLUMNS_COOKIE + hashlib.sha1((project or "*").encode()).hexdigest()[:12]

    # ---- the query ---------------------------------------------------------------------------
    def filters(self) -> dict[str, Any]:
        """The state as the models query's arguments (the names of ``GET /api/v1/models``)."""
        sort = [self.sort] if self.sort.lstrip("-") == "created_at" else [self.sort,
                                                                           "-created_at"]
        return {
            "project": self.project or None,
            "name": self.name or None,
            "tag": list(self.tags),
            "framework": list(self.frameworks),
            "published": {"published": True, "draft": False}.get(self.state),
            "archived": self.archived,
            "meta": [meta_filter(k[5:], v) for k, v in self.meta.items()],
            "sort": sort,
            "column": list(self.columns),
            "limit": self.limit,
            "cursor": self.cursor,
        }

    # ---- columns and URLs --------------------------------------------------------------------
    def all_columns(self) -> list[Column]:
        return BUILTIN + [Column(c, c[5:], "meta") for c in self.columns]

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        base: dict[str, Any] = {
            "project": self.project, "q": self.name, "tag": self.tags,
            "framework": ",".join(self.frameworks), "state": self.state,
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
        meta = {f"f.{k}": v for k, v in self.meta.items()}
        for key, value in changes.items():
            if key.startswith("f."):
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
        out.extend(meta.items())
        return out

    def url(self, **changes: Any) -> str:
        params = self.params(**changes)
        return "/models" + ("?" + urlencode(params) if params else "")

    def sort_url(self, key: str) -> str:
        if self.sort.lstrip("-") == key:
            new = key if self.sort.startswith("-") else "-" + key
        else:
            new = "-" + key if key in _DESC_FIRST else key
        return self.url(sort=new, cursor=None, start=None)

    def sort_dir(self, key: str) -> str:
        if self.sort.lstrip("-") != key:
            return ""
        return "desc" if self.sort.startswith("-") else "asc"

    def filtered(self) -> bool:
        return bool(self.name or self.tags or self.frameworks or self.state or self.meta)

    def clear_url(self) -> str:
        return ModelTableState(project=self.project, sort=self.sort, columns=self.columns,
                               limit=self.limit, archived=self.archived).url()

    def hidden_fields(self, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """The state a filter form carries along in hidden inputs."""
        keep = {"project", "sort", "col", "limit", "archived"} - set(exclude)
        return [(k, v) for k, v in self.params() if k in keep]


def _valid_sort(sort: str) -> bool:
    key = sort.lstrip("-")
    return key in {c.key for c in BUILTIN if c.sortable} | {"updated_at"} or valid_meta(key)


def meta_value(model: Any, key: str) -> Any:
    """A model's metadata value under ``key`` (entries are ``{"key","type","value"}``)."""
    entry = (_get(model, "metadata") or {}).get(key)
    return entry.get("value") if isinstance(entry, dict) else entry


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


# ---- the lineage graph ---------------------------------------------------------------------
NODE_W, NODE_H = 190, 44
COL_W, ROW_H, PAD = 250, 58, 14


@dataclass
class Node:
    kind: str
    """dataset, input_model, task, model (this one), consumer."""
    href: str
    label: str
    sub: str
    ident: str
    x: int = 0
    y: int = 0


@dataclass
class Graph:
    width: int
    height: int
    nodes: list[Node]
    edges: list[str]


def _short(text: str, n: int = 26) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def lineage_graph(lineage: Any) -> Graph:
    """Columns left to right: the creating task's inputs (datasets, models), the creating task,
    this model, the tasks that use it. Every node links to its page."""
    model = _get(lineage, "model")
    inputs: list[Node] = []
    for ds in _get(lineage, "datasets") or []:
        did = str(_get(ds, "id") or "")
        inputs.append(Node("dataset", f"/datasets/versions/{did}",
                           _short(f"{_get(ds, 'name') or ''} {_get(ds, 'version') or ''}"),
                           "dataset" + (f" · {_get(ds, 'alias')}" if _get(ds, "alias") else ""),
                           did))
    for use in _get(lineage, "input_models") or []:
        m = _get(use, "model")
        mid = str(_get(m, "id") or "")
        inputs.append(Node("input_model", f"/models/{mid}", _short(str(_get(m, "name") or "")),
                           f"input model · {_get(use, 'name') or ''}", mid))
    task = _get(lineage, "task")
    middle: list[Node] = []
    if task:
        tid = str(_get(task, "id"))
        middle.append(Node("task", f"/tasks/{tid}", _short(str(_get(task, "name") or "")),
                           f"task · {_get(task, 'status') or ''}", tid))
    mid = str(_get(model, "id") or "")
    this = [Node("model", f"/models/{mid}", _short(str(_get(model, "name") or "")),
                 "this model" + (" · published" if _get(model, "published") else ""), mid)]
    consumers = [Node("consumer", f"/tasks/{_get(c, 'task_id')}",
                      _short(str(_get(c, "task_name") or "")),
                      f"uses it as {_get(c, 'name') or ''}", str(_get(c, "task_id")))
                 for c in _get(lineage, "consumers") or []]
    columns = [c for c in (inputs, middle, this, consumers) if c]
    tallest = max(len(c) for c in columns)
    height = PAD * 2 + (tallest - 1) * ROW_H + NODE_H
    for i, col in enumerate(columns):
        top = (height - ((len(col) - 1) * ROW_H + NODE_H)) // 2
        for j, node in enumerate(col):
            node.x, node.y = PAD + i * COL_W, top + j * ROW_H
    edges: list[str] = []
    for left, right in zip(columns, columns[1:], strict=False):
        for a in left:
            for b in right:
                x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
                x2, y2 = b.x - 4, b.y + NODE_H / 2
                dx = (x2 - x1) / 2
                edges.append(f"M{x1:.0f},{y1:.0f} C{x1 + dx:.0f},{y1:.0f} {x2 - dx:.0f},"
                             f"{y2:.0f} {x2:.0f},{y2:.0f}")
    width = PAD * 2 + (len(columns) - 1) * COL_W + NODE_W
    return Graph(width, height, [n for c in columns for n in c], edges)

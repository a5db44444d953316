"""What the dataset pages draw: the lineage graph of a dataset's versions (laid out here, drawn
as SVG by the template, no script needed) and the preview of one file (a table, text or an
image, chosen by the file's extension)."""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from arno.core.dataset_schemas import DatasetVersionOut

NODE_W, NODE_H = 150, 42
MAX_NODES = 200
"""The graph shows a dataset's newest versions, up to this many."""
COL_W, ROW_H, PAD = 210, 58, 14

TABLE_BYTES = 1024 * 1024
TEXT_BYTES = 64 * 1024
TABLE_ROWS = 100
PARQUET_BYTES = 64 * 1024 * 1024
"""Parquet keeps its schema at the end: a file is read whole, up to this size."""

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}
TABLES = {".csv": ",", ".tsv": "\t"}
TEXTS = (".txt", ".json", ".jsonl", ".ndjson", ".md", ".log", ".yaml", ".yml", ".xml", ".py",
         ".cfg", ".ini", ".toml", ".html", ".js", ".css", ".sh", ".rst")


# ---- lineage ----------------------------------------------------------------------------------


@dataclass
class Node:
    id: str
    label: str
    sub: str
    title: str
    state: str
    x: int
    y: int
    current: bool = False
    outside: bool = False


@dataclass
class Graph:
    width: int
    height: int
    nodes: list[Node] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    """SVG path data, parent -> child."""


def lineage(versions: list[DatasetVersionOut], outside: dict[str, DatasetVersionOut],
            current: str | None = None) -> Graph:
    """Versions in columns by generation (a version sits right of all its parents), ordered
    inside a column by where their parents sit, so merges and branches read left to right.
    Parents from other datasets appear as their own (dashed) nodes."""
    every = {v.id: v for v in [*outside.values(), *versions]}
    if not every:
        return Graph(0, 0)
    depth = _generations(every)
    order = sorted(every.values(), key=lambda v: (_ts(v.created_at), v.id))
    columns: dict[int, list[DatasetVersionOut]] = {}
    for v in order:
        columns.setdefault(depth[v.id], []).append(v)
    row: dict[str, float] = {}
    for d in sorted(columns):
        col = columns[d]
        keys = {}
        for i, v in enumerate(col):
            ps = [row[p] for p in v.parents if p in row]
            keys[v.id] = (sum(ps) / len(ps), i) if ps else (float(i), i)
        col.sort(key=lambda v: keys[v.id])
        for i, v in enumerate(col):
            row[v.id] = i
    nodes: dict[str, Node] = {}
    for d, col in columns.items():
        for i, v in enumerate(col):
            out = v.id in outside
            label = f"{v.name} {v.version}" if out else v.version
            sub = v.state if out else f"{v.state} · {v.stats.file_count} files"
            title = f"{v.project} / {v.name} {v.version} ({v.state}), {v.stats.file_count} files"
            nodes[v.id] = Node(v.id, _clip(label, 22), sub, title, v.state,
                               PAD + d * COL_W, PAD + i * ROW_H, v.id == current, out)
    edges = []
    for v in every.values():
        child = nodes[v.id]
        for p in v.parents:
            parent = nodes.get(p)
            if parent is None:
                continue
            x1, y1 = parent.x + NODE_W, parent.y + NODE_H / 2
            x2, y2 = child.x - 4, child.y + NODE_H / 2
            dx = (x2 - x1) / 2
            edges.append(f"M{x1:.0f},{y1:.0f} C{x1 + dx:.0f},{y1:.0f} {x2 - dx:.0f},{y2:.0f} "
                         f"{x2:.0f},{y2:.0f}")
    width = PAD * 2 + (max(columns) * COL_W) + NODE_W
    height = PAD * 2 + (max(len(c) for c in columns.values()) - 1) * ROW_H + NODE_H
    return Graph(width, height, list(nodes.values()), edges)


def _generations(every: dict[str, DatasetVersionOut]) -> dict[str, int]:
    """Each version's column: one more than its furthest parent's (roots at 0), found in
    topological order without recursion (a lineage can be thousands of versions long)."""
    children: dict[str, list[str]] = {}
    waiting: dict[str, int] = {}
    for v in every.values():
        ps = [p for p in dict.fromkeys(v.parents) if p in every]
        waiting[v.id] = len(ps)
        for p in ps:
            children.setdefault(p, []).append(v.id)
    depth = {vid: 0 for vid, n in waiting.items() if n == 0}
    ready = deque(depth)
    while ready:
        vid = ready.popleft()
        for child in children.get(vid, []):
            depth[child] = max(depth.get(child, 0), depth[vid] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    for vid in every:  # only a cycle, which parents cannot form, would leave one out
        depth.setdefault(vid, 0)
    return depth


def _ts(value: datetime) -> float:
    return value.timestamp()


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---- previews -----------------------------------------------------------------------------------


@dataclass
class Preview:
    kind: str
    """table, text, image, empty, external, binary or unavailable."""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text: str = ""
    truncated: bool = False
    note: str = ""


def extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return name[name.rfind("."):] if "." in name else ""


def kind_of(path: str) -> str:
    """How a file is previewed, from its name: table, parquet, image, text or sniff."""
    ext = extension(path)
    if ext in TABLES:
        return "table"
    if ext == ".parquet":
        return "parquet"
    if ext in IMAGE_TYPES:
        return "image"
    if ext in TEXTS:
        return "text"
    return "sniff"


def bytes_wanted(kind: str) -> int:
    return {"table": TABLE_BYTES, "parquet": PARQUET_BYTES}.get(kind, TEXT_BYTES)


def table_preview(data: bytes, complete: bool, delimiter: str) -> Preview:
    """The header and first rows of a CSV/TSV head (a last line cut by the read is dropped)."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    if not complete and "\n" in text:
        text = text[: text.rindex("\n")]
    rows: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(record)
            if len(rows) > TABLE_ROWS + 1:  # the header, the rows shown, one more
                break
    except csv.Error as exc:
        if not rows:
            return Preview("text", text=text[:TEXT_BYTES], truncated=True,
                           note=f"not read as a table ({exc}); its start as text")
    if not rows:
        return Preview("empty")
    more = len(rows) > TABLE_ROWS + 1 or not complete
    body = rows[1:TABLE_ROWS + 1]
    return Preview("table", header=rows[0], rows=body, truncated=more,
                   note=f"first {len(body)} rows" if more else f"{len(body)} rows")


def text_preview(data: bytes, complete: bool, path: str) -> Preview:
    text = data[:TEXT_BYTES].decode("utf-8", errors="replace")
    cut = not complete or len(data) > TEXT_BYTES
    if complete and extension(path) == ".json":
        try:
            pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
            text, cut = pretty[:TEXT_BYTES], len(pretty) > TEXT_BYTES
        except ValueError:
            pass
    return Preview("text", text=text, truncated=cut,
                   note=f"first {TEXT_BYTES // 1024} KB" if cut else "")


def sniff_preview(data: bytes, complete: bool, path: str) -> Preview:
    """Text when the head reads as UTF-8 without NUL bytes, else no preview."""
    head = data[:TEXT_BYTES]
    if b"\x00" in head:
        return Preview("binary")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the read
            return Preview("binary")
    return text_preview(data, complete, path)


def parquet_preview(data: bytes) -> Preview:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Preview("unavailable", note="previewing Parquet needs pyarrow on the server")
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - any reader error is shown, not raised
        return Preview("unavailable", note=f"not a readable Parquet file: {exc}")
    head = table.slice(0, TABLE_ROWS).to_pylist()
    header = [str(c) for c in table.column_names]
    rows = [["" if r[c] is None else str(r[c]) for c in table.column_names] for r in head]
    more = table.num_rows > TABLE_ROWS
    return Preview("table", header=header, rows=rows, truncated=more,
                   note=f"first {len(rows)} of {table.num_rows} rows" if more
                   else f"{len(rows)} rows")

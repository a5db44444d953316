"""Previews of stored artifacts for the web UI: the head of a table (pandas artifacts are
stored as gzipped CSV), the start of a text or JSON file."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass

from arno.blobstore import BlobStore
from arno.core.errors import ArnoError
from arno.core.schemas import ArtifactOut

MAX_BYTES = 256 * 1024


@dataclass
class TablePreview:
    header: list[str]
    rows: list[list[str]]
    truncated: bool


def _is_csv(a: ArtifactOut) -> bool:
    name = (a.file_name or a.name).lower()
    return a.type == "pandas" or a.content_type in ("text/csv", "application/csv") or \
        name.endswith((".csv", ".csv.gz", ".tsv"))


def _is_text(a: ArtifactOut) -> bool:
    ct = a.content_type or ""
    name = (a.file_name or a.name).lower()
    return a.type == "json" or ct.startswith("text/") or ct in (
        "application/json", "application/x-yaml", "application/yaml", "application/xml"
    ) or name.endswith((".txt", ".json", ".yaml", ".yml", ".md", ".log", ".py", ".cfg", ".ini"))


def is_image(a: ArtifactOut) -> bool:
    return (a.content_type or "").startswith("image/") and bool(a.hash)


def _head_bytes(store: BlobStore, hash_: str, gz: bool) -> tuple[bytes, bool]:
    with store.open(hash_) as raw:
        stream = gzip.GzipFile(fileobj=raw) if gz else raw
        data = stream.read(MAX_BYTES + 1)
    return data[:MAX_BYTES], len(data) > MAX_BYTES


def table_head(store: BlobStore, a: ArtifactOut, rows: int = 20) -> TablePreview | None:
    if not a.hash or not _is_csv(a):
        return None
    gz = a.content_type == "application/gzip" or (a.file_name or "").endswith(".gz")
    try:
        data, cut = _head_bytes(store, a.hash, gz)
    except (OSError, EOFError, ArnoError):
        return None
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut in the middle
    dialect = "excel-tab" if (a.file_name or "").endswith(".tsv") else "excel"
    parsed = list(csv.reader(io.StringIO("\n".join(lines[: rows + 1])), dialect=dialect))
    if not parsed:
        return None
    return TablePreview(parsed[0], parsed[1 : rows + 1], cut or len(lines) > rows + 1)


def text_head(store: BlobStore, a: ArtifactOut, limit: int = 64 * 1024) -> str | None:
    if not a.hash or not _is_text(a) or _is_csv(a):
        return None
    try:
        data, cut = _head_bytes(store, a.hash, False)
    except (OSError, ArnoError):
        return None
    text = data[:limit].decode("utf-8", errors="replace")
    if a.type == "json" or a.content_type == "application/json":
        try:
            text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)[:limit]
        except ValueError:
            pass
    if cut or len(data) > limit:
        text += "\n…"
    return text

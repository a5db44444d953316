"""Dataset manifests and the piece table: how a manifest is stored (zstd JSON blob, sorted by
path), merged (parents in order, a later one wins) and compared; and the set-based lookups of
pieces that the hot paths (``pieces/missing``, a manifest of 10k files) rely on.

Lookups go to the driver as one statement with one parameter (comma-joined text that
PostgreSQL splits, a JSON list on SQLite) whatever the number of hashes: binding 10k parameters,
or a list adapted element by element, would cost more than the database's own work.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import zstandard
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.orm import Session

from arno.blobstore import BlobStore, hash_bytes
from arno.core.dataset_schemas import ManifestFile
from arno.core.errors import IntegrityError

Files = dict[str, ManifestFile]
"""A manifest in memory: path -> file. Never mutated once built (it is cached)."""

_FILES = TypeAdapter(list[ManifestFile])
ZSTD_LEVEL = 1
"""Hashes, most of a manifest, do not compress: the fastest level does as well as any."""
MAX_MANIFEST_BYTES = 4 * 1024**3


Piece = tuple[str, int, int, int]
"""Where a piece lives: (pack hash, offset, length, decoded size)."""


def sorted_files(files: Files) -> list[ManifestFile]:
    return [files[p] for p in sorted(files)]


def encode_files(files: list[ManifestFile]) -> bytes:
    """``{"files": [...]}`` as compact JSON (files in the order given)."""
    return b'{"files":' + _FILES.dump_json(files) + b"}"


def merge(manifests: Iterable[Files]) -> Files:
    """Later manifests win on the same path."""
    out: Files = {}
    for files in manifests:
        out.update(files)
    return out


def same_content(a: ManifestFile, b: ManifestFile) -> bool:
    return a["hash"] == b["hash"] and a["size"] == b["size"] and a.get("uri") == b.get("uri")


@dataclass
class Changes:
    added: list[ManifestFile]
    modified: list[ManifestFile]
    """As they are now."""
    removed: list[ManifestFile]
    """As they were."""


def changes(own: Files, base: Files) -> Changes:
    """What ``own`` adds, modifies and removes compared with ``base``, each sorted by path."""
    added: list[ManifestFile] = []
    modified: list[ManifestFile] = []
    for path in sorted(own):
        f = own[path]
        old = base.get(path)
        if old is None:
            added.append(f)
        elif not same_content(f, old):
            modified.append(f)
    removed = [base[p] for p in sorted(base.keys() - own.keys())]
    return Changes(added, modified, removed)


def stats(own: Files, base: Files) -> dict[str, int]:
    """The counts stored on a version row (one pass, nothing sorted)."""
    added = modified = added_bytes = modified_bytes = total = 0
    for path, f in own.items():
        size = f["size"]
        total += size
        old = base.get(path)
        if old is None:
            added += 1
            added_bytes += size
        elif not same_content(f, old):
            modified += 1
            modified_bytes += size
    removed = [base[p]["size"] for p in base.keys() - own.keys()] if base else []
    return {
        "file_count": len(own), "total_size": total,
        "added_files": added, "modified_files": modified, "removed_files": len(removed),
        "added_bytes": added_bytes, "modified_bytes": modified_bytes,
        "removed_bytes": sum(removed),
    }


class ManifestStore:
    """Manifests as blobs, with the last few parsed ones kept in memory, up to ``cache_files``
    files in all (a blob's content never changes, so the cache is safe across threads and
    replicas)."""

    def __init__(self, store: BlobStore, cache_files: int = 200_000) -> None:
        self.store = store
        self.cache_files = cache_files
        self._cache: OrderedDict[str, Files] = OrderedDict()
        self._cached_files = 0
        self._lock = threading.Lock()

    def _remember(self, h: str, files: Files) -> None:
        if len(files) > self.cache_files:
            return
        with self._lock:
            old = self._cache.pop(h, None)
            self._cached_files += len(files) - (len(old) if old is not None else 0)
            self._cache[h] = files
            while self._cached_files > self.cache_files:
                _, dropped = self._cache.popitem(last=False)
                self._cached_files -= len(dropped)

    def raw(self, h: str) -> bytes:
        """The manifest's JSON bytes."""
        blob = self.store.read_range(h, 0, self.store.size(h))
        if hash_bytes(blob) != h:
            raise IntegrityError(f"stored manifest {h} is corrupted")
        return zstandard.ZstdDecompressor().decompress(blob, max_output_size=MAX_MANIFEST_BYTES)

    def load(self, h: str) -> Files:
        with self._lock:
            files = self._cache.get(h)
            if files is not None:
                self._cache.move_to_end(h)
                return files
        doc = json.loads(self.raw(h))
        files = {f["path"]: f for f in doc["files"]}
        self._remember(h, files)
        return files

    def pack(self, files: Files) -> tuple[str, bytes]:
        """The manifest's blob: ``(hash, compressed JSON)``."""
        packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(
            encode_files(sorted_files(files)))
        return hash_bytes(packed), packed

    def put(self, h: str, packed: bytes, files: Files) -> None:
        """Store a blob made by :meth:`pack`."""
        self.store.put_bytes(packed, expected_hash=h)
        self._remember(h, files)


# ---- the piece table ---------------------------------------------------------------------------


def _is_pg(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _select(s: Session, columns: str, hashes: list[str]) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM dataset_pieces`` for ``hashes``, on the driver's own cursor."""
    conn = s.connection()
    cur = conn.connection.cursor()
    try:
        if _is_pg(s):  # one text parameter split by the server: a list would be adapted
            cur.execute(  # element by element, several times slower than the query itself
                f"SELECT {columns} FROM dataset_pieces "
                "WHERE hash = ANY(string_to_array(%s, ','))",
                (",".join(hashes),),
            )
        else:
            cur.execute(
                f"SELECT {columns} FROM dataset_pieces "
                "WHERE hash IN (SELECT value FROM json_each(?))",
                (json.dumps(hashes),),
            )
        return cast("list[tuple[Any, ...]]", cur.fetchall())
    finally:
        cur.close()


def find_pieces(s: Session, hashes: list[str]) -> dict[str, Piece]:
    """The stored pieces among ``hashes``, with where they live."""
    if not hashes:
        return {}
    rows = _select(s, 'hash, pack_hash, "offset", length, size', hashes)
    return {h: (p, o, n, z) for h, p, o, n, z in rows}


def piece_homes(s: Session, hashes: list[str]) -> list[tuple[str | None, int | None]]:
    """``(pack, size)`` of each of ``hashes``, in their order; ``(None, None)`` for a piece
    not stored. (Rows aligned with the input need not carry the hash back.)"""
    if not hashes:
        return []
    conn = s.connection()
    cur = conn.connection.cursor()
    try:
        if _is_pg(s):
            cur.execute(
                "SELECT p.pack_hash, p.size FROM unnest(string_to_array(%s, ',')) "
                "WITH ORDINALITY AS j(h, i) LEFT JOIN dataset_pieces p ON p.hash = j.h "
                "ORDER BY j.i",
                (",".join(hashes),),
            )
        else:
            cur.execute(
                "SELECT p.pack_hash, p.size FROM json_each(?) AS j "
                "LEFT JOIN dataset_pieces AS p ON p.hash = j.value ORDER BY j.key",
                (json.dumps(hashes),),
            )
        rows = cast("list[tuple[str | None, int | None]]", cur.fetchall())
    finally:
        cur.close()
    return rows


def stored_pieces(s: Session, hashes: list[str]) -> set[str]:
    """Those of ``hashes`` that are stored."""
    return {r[0] for r in _select(s, "hash", hashes)} if hashes else set()


def hold_packs(s: Session, packs: Iterable[str]) -> set[str]:
    """Of ``packs``, those still stored, each held (PostgreSQL: ``FOR KEY SHARE``) until the
    transaction ends, so garbage collection cannot take them meanwhile; it waits, or, if it
    went first, they are reported gone."""
    wanted = sorted(set(packs))
    if not wanted:
        return set()
    conn = s.connection()
    if _is_pg(s):
        rows = conn.exec_driver_sql(
            "SELECT hash FROM dataset_packs WHERE hash = ANY(string_to_array(%s, ',')) "
            "ORDER BY hash FOR KEY SHARE",
            (",".join(wanted),),
        )
    else:  # SQLite: this runs in the one write transaction there is
        rows = conn.exec_driver_sql(
            "SELECT hash FROM dataset_packs WHERE hash IN (SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        )
    return {r[0] for r in rows}


def insert_pieces(s: Session, rows: list[tuple[str, int, str, int, int]]) -> None:
    """Insert (hash, size, pack_hash, offset, length) rows; a piece already stored keeps its
    first home."""
    if not rows:
        return
    conn = s.connection()
    sql = 'INSERT INTO dataset_pieces (hash, size, pack_hash, "offset", length) '
    if _is_pg(s):  # columns as comma-joined text, split by the server (see _select)
        cols = tuple(",".join(map(str, c)) for c in zip(*rows, strict=True))
        conn.exec_driver_sql(
            sql + "SELECT * FROM unnest(string_to_array(%s, ','), "
            "string_to_array(%s, ',')::bigint[], string_to_array(%s, ','), "
            "string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')::bigint[]) "
            "ON CONFLICT (hash) DO NOTHING",
            cols,
        )
        return
    cur = conn.connection.cursor()
    try:
        cur.executemany(sql + "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING", rows)
    finally:
        cur.close()


def lock_blob(s: Session, h: str) -> None:
    """Serialise, until the transaction ends, everything that names or frees blob ``h``
    (PostgreSQL advisory lock; SQLite's writers are serialised already)."""
    if _is_pg(s):
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(h[:15], 16)})

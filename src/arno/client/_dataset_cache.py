"""The local dataset cache under ``$ARNO_HOME/datasets``: one read-only folder per dataset
version, an SQLite index of what each holds (so a file already cached under any version is
hard-linked instead of downloaded), a size limit and least-recently-used eviction.

Sizes are counted once per content: a file hard-linked into several versions takes its bytes
once on disk, and once in the count.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arno.client._dataset_download import DownloadStats, materialize
from arno.client._dataset_files import Entry
from arno.core.errors import InvalidInput

_VERSION_ID = re.compile(r"[0-9a-f]{32}")
STALE_STAGING = 24 * 3600
"""Unfinished downloads older than this (a process that died) are swept away."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (id TEXT PRIMARY KEY, size INTEGER NOT NULL,
                                     files INTEGER NOT NULL, last_used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files (version_id TEXT NOT NULL, path TEXT NOT NULL,
                                  key TEXT NOT NULL, size INTEGER NOT NULL,
                                  PRIMARY KEY (version_id, path));
CREATE INDEX IF NOT EXISTS files_key ON files (key);
"""


def content_key(entry: Entry) -> str:
    return str(entry["hash"]) if not entry.get("uri") else f"uri:{entry['uri']}"


class DatasetCache:
    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit
        (root / "versions").mkdir(parents=True, exist_ok=True)
        (root / "staging").mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(root / "index.sqlite", timeout=60, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._sweep_staging()

    def close(self) -> None:
        self._db.close()

    def path(self, version_id: str) -> Path:
        if not _VERSION_ID.fullmatch(version_id):  # the id comes from the server
            raise InvalidInput(f"dataset version id {version_id[:80]!r} is not an id")
        return self.root / "versions" / version_id

    # ---- reading -------------------------------------------------------------------------------
    def lookup(self, version_id: str) -> Path | None:
        """The cached folder of a version (marked as just used), or None."""
        row = self._db.execute("SELECT 1 FROM versions WHERE id = ?", (version_id,)).fetchone()
        if row is None:
            return None
        folder = self.path(version_id)
        if not folder.is_dir():
            self._forget(version_id)
            return None
        self._db.execute("UPDATE versions SET last_used = ? WHERE id = ?",
                         (time.time(), version_id))
        return folder

    def find_many(self, entries: list[Entry]) -> dict[str, tuple[str, Path]]:
        """``content key -> (version id, cached file)`` for the entries already cached."""
        wanted = {content_key(e): int(e.get("size") or 0) for e in entries if e.get("pieces")}
        keys = list(wanted)
        found: dict[str, tuple[str, Path]] = {}
        for i in range(0, len(keys), 500):
            batch = keys[i:i + 500]
            marks = ",".join("?" * len(batch))
            for key, vid, path, size in self._db.execute(
                f"SELECT key, version_id, path, size FROM files WHERE key IN ({marks})", batch
            ):
                if key in found or size != wanted[key]:
                    continue
                candidate = self.path(vid) / path
                try:
                    if candidate.stat().st_size == size:
                        found[key] = (vid, candidate)
                except OSError:
                    continue
        return found

    def usage(self) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM files GROUP BY key)"
        ).fetchone()
        return int(row[0])

    def versions(self) -> list[str]:
        """Cached versions, least recently used first."""
        return [r[0] for r in self._db.execute("SELECT id FROM versions ORDER BY last_used")]

    # ---- changing -------------------------------------------------------------------------------
    def make_room(self, incoming: int, keep: set[str]) -> None:
        """Evict least recently used versions (never those in ``keep``) until ``incoming``
        more bytes fit under the limit, or nothing else can go."""
        for vid in self.versions():
            if self.usage() + incoming <= self.limit:
                return
            if vid not in keep:
                self.remove(vid)

    def remove(self, version_id: str) -> None:
        self._forget(version_id)
        _rmtree(self.path(version_id))

    def _forget(self, version_id: str) -> None:
        with self._tx():
            self._db.execute("DELETE FROM files WHERE version_id = ?", (version_id,))
            self._db.execute("DELETE FROM versions WHERE id = ?", (version_id,))

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh folder to build a version in; removed afterwards unless committed."""
        folder = Path(tempfile.mkdtemp(prefix="v-", dir=self.root / "staging"))
        try:
            yield folder
        finally:
            if folder.exists():
                _rmtree(folder)

    def commit(self, version_id: str, folder: Path, entries: list[Entry]) -> Path:
        """Move a fully built ``folder`` into the cache as ``version_id``, read-only."""
        final = self.path(version_id)
        try:
            os.rename(folder, final)
        except OSError:
            if not final.is_dir():  # another process won the race: theirs is as good
                raise
        _read_only_dirs(final)
        rows = [(version_id, e["path"], content_key(e), int(e.get("size") or 0))
                for e in entries]
        with self._tx():
            self._db.execute("DELETE FROM files WHERE version_id = ?", (version_id,))
            self._db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)", rows)
            self._db.execute(
                "INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?)",
                (version_id, sum(r[3] for r in rows), len(rows), time.time()),
            )
        return final

    def _sweep_staging(self) -> None:
        cutoff = time.time() - STALE_STAGING
        for folder in (self.root / "staging").iterdir():
            try:
                if folder.stat().st_mtime < cutoff:
                    _rmtree(folder)
            except OSError:
                continue


def cached_copy(
    session: Any,
    cache: DatasetCache,
    version_id: str,
    load_entries: Callable[[], list[Entry]],
    *,
    fetch_external: Callable[[Entry], Path] | None = None,
    progress: Callable[[str, int], None] | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[Path, DownloadStats | None]:
    """The read-only cached folder of a final version: at once when cached, else built from
    the files already cached (hard links) and what must be downloaded."""
    found = cache.lookup(version_id)
    if found is not None:
        return found, None
    entries = load_entries()
    local = cache.find_many(entries)
    incoming = sum(int(e.get("size") or 0) for e in entries if content_key(e) not in local)
    cache.make_room(incoming, keep={vid for vid, _ in local.values()})

    def reuse(entry: Entry) -> Path | None:
        hit = local.get(content_key(entry))
        return hit[1] if hit is not None else None

    with cache.staging() as folder:
        # written in place: the staging folder as a whole is what appears atomically
        stats = materialize(session, entries, folder / "data", reuse=reuse, link=True,
                            readonly=True, atomic=False, fetch_external=fetch_external,
                            progress=progress, advance=advance)
        final = cache.commit(version_id, folder / "data", entries)
    return final, stats


def _read_only_dirs(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        os.chmod(dirpath, 0o555)


def _rmtree(root: Path) -> None:
    if not os.path.lexists(root):
        return
    for dirpath, _dirs, _files in os.walk(root):
        try:
            os.chmod(dirpath, stat.S_IRWXU)
        except OSError:
            pass
    shutil.rmtree(root, ignore_errors=True)

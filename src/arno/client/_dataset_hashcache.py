"""Hashes of local files remembered between runs (``$ARNO_HOME/datasets/hashes.sqlite``), so
that adding a folder again, or syncing it into a child version, reads only the files that
changed.

A file counts as unchanged when its path, size, modification time, device, inode and change
time are all the same as when it was hashed. A file modified moments before it was hashed is
not remembered: a second change within the clock's resolution could go unseen.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from arno.client._dataset_files import HashedFile, LocalFile

RECENT_NS = 250_000_000
"""Files modified this recently before being hashed are not remembered (file times move in
steps of a clock tick, a few milliseconds)."""
COARSE_RECENT_NS = 2_000_000_000
"""The same on file systems whose times are whole seconds."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    source TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL, pieces TEXT NOT NULL, lengths TEXT NOT NULL)
"""


class HashCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def lookup(self, items: list[LocalFile]) -> dict[str, HashedFile]:
        """``source -> HashedFile`` for the files hashed before and unchanged since."""
        by_source = {i.source: i for i in items}
        sources = list(by_source)
        found: dict[str, HashedFile] = {}
        for i in range(0, len(sources), 500):
            batch = sources[i:i + 500]
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(
                f"SELECT source, size, mtime_ns, dev, ino, ctime_ns, hash, pieces, lengths "
                f"FROM hashes WHERE source IN ({marks})", batch,
            ):
                source, size, mtime_ns, dev, ino, ctime_ns, digest, pieces, lengths = row
                item = by_source[source]
                if (size, mtime_ns, (dev, ino, ctime_ns)) != (item.size, item.mtime_ns,
                                                               item.stamp):
                    continue
                found[source] = HashedFile(
                    item.path, source, size, mtime_ns, digest,
                    [pieces[j:j + 64] for j in range(0, len(pieces), 64)],
                    [int(n) for n in lengths.split(",")] if lengths else [],
                    item.stamp,
                )
        return found

    def remember(self, hashed: list[HashedFile]) -> None:
        now = time.time_ns()

        def settled(t: int) -> bool:
            return t < now - (COARSE_RECENT_NS if t % 1_000_000_000 == 0 else RECENT_NS)

        rows = [(h.source, h.size, h.mtime_ns, *h.stamp, h.hash, "".join(h.pieces),
                 ",".join(map(str, h.lengths)))
                for h in hashed if settled(h.mtime_ns) and settled(h.stamp[2])]
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

"""Dataset files on the client: the paths a manifest may hold, finding local files to add, and
naming their content (a BLAKE3 hash for the file, and the pieces it is stored as).

A file under ``CHUNK_FROM`` bytes is one piece; a larger one is cut by content-defined chunking
so that an edit inside it changes only the pieces around the edit.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from blake3 import blake3
from pyfastcdc import FastCDC

from arno.core.dataset_schemas import check_dataset_path
from arno.core.errors import InvalidInput

log = logging.getLogger("arno.datasets")
CHUNK_FROM = 1 << 20
"""Files of this size or more are cut into pieces."""
CDC_MIN, CDC_AVG, CDC_MAX = 128 << 10, 512 << 10, 2 << 20
"""Content-defined chunk sizes: minimum, target average, maximum. Measured on 100 MiB of random
bytes with 1 MiB overwritten at a random place (80 trials), the new chunks came to 1.9 MiB at
the median and 3.5 MiB at worst; a 1 MiB average (max 2 or 4 MiB) gave 2.7 MiB and over 5 MiB,
and a maximum of only twice the average loses the resynchronisation that makes CDC work."""
EMPTY_HASH = blake3(b"").hexdigest()
HASH_WORKERS = max(2, min(8, os.cpu_count() or 2))
_BATCH = 200
"""Small files hashed per thread hand-off."""

T = TypeVar("T")
R = TypeVar("R")
Entry = dict[str, Any]
"""A manifest file: ``{"path", "size", "hash", "pieces"[, "uri"]}``."""


# ---- paths ------------------------------------------------------------------------------------
def check_path(path: object) -> str:
    """``path`` if it is a clean relative POSIX path that stays inside any folder it is written
    to, else InvalidInput naming it."""
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"dataset path {path!r} is empty or not text")
    try:
        return check_dataset_path(path)  # the server's own rule
    except ValueError as exc:
        raise InvalidInput(f"dataset {exc}") from None


def join_dataset_path(folder: str | None, rel: str) -> str:
    """``rel`` placed under the dataset folder ``folder`` ("" or None: the top)."""
    prefix = clean_folder(folder)
    return check_path(f"{prefix}/{rel}" if prefix else rel)


def clean_folder(folder: str | None) -> str:
    """A dataset folder given by a user: slashes at either end and ``.`` parts dropped."""
    if not folder:
        return ""
    parts = [p for p in str(folder).replace(os.sep, "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"dataset folder {folder!r} would land outside the dataset")
    return "/".join(parts)


def matches(path: str, pattern: str, recursive: bool = True) -> bool:
    """Whether a dataset ``path`` is selected by a wildcard ``pattern``: the pattern matches the
    whole path, or names a folder whose files are meant; with ``recursive`` a pattern without a
    folder part (``*.csv``) matches files at any depth."""
    pattern = pattern.strip("/")
    if not pattern or pattern in ("*", "."):
        return recursive or "/" not in path
    if fnmatch.fnmatchcase(path, pattern):
        return recursive or path.count("/") == pattern.count("/")
    if recursive:
        if path.startswith(pattern + "/") or fnmatch.fnmatchcase(path, pattern + "/*"):
            return True
        if "/" not in pattern and fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern):
            return True
    return False


# ---- finding local files ----------------------------------------------------------------------
@dataclass(slots=True)
class LocalFile:
    """A local file chosen to go into a dataset at ``path``."""

    path: str
    source: str
    size: int
    mtime_ns: int
    stamp: tuple[int, int, int] = (0, 0, 0)
    """(device, inode, ctime_ns): with size and mtime, what says the file is unchanged."""


def scan(
    local: str | os.PathLike[str],
    *,
    wildcard: str | Sequence[str] | None = None,
    recursive: bool = True,
    dataset_path: str | None = None,
) -> list[LocalFile]:
    """The files under ``local`` (a file or a folder) with their dataset paths.

    A missing path, a broken symbolic link or something that is not a regular file raises
    InvalidInput naming it, so that nothing is added when one file cannot be. Symbolic links
    found in the folder are followed only while they stay inside it (a link to a file there
    adds that file's bytes); one leading outside is skipped with a warning naming it.
    """
    root = Path(local).expanduser()
    patterns = [wildcard] if isinstance(wildcard, str) else list(wildcard or [])
    if not os.path.lexists(root):
        raise InvalidInput(f"no such file or folder: {root}")
    if not root.exists():
        raise InvalidInput(f"{root} is a broken symbolic link")
    prefix = clean_folder(dataset_path)
    if not root.is_dir():
        single = _local(str(root.absolute()), join_dataset_path(prefix, root.name))
        return [single] if single is not None else []
    base = str(root.absolute())
    inside = _Inside(base)
    out: list[LocalFile] = []
    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True, onerror=_walk_error):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen_dirs:  # a link back up the tree
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if inside.keeps(os.path.join(dirpath, d)))
        rel_dir = os.path.relpath(dirpath, base).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        if not recursive:
            dirnames[:] = []
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if patterns and not any(_wild(rel, name, p) for p in patterns):
                continue
            if not inside.keeps(os.path.join(dirpath, name)):
                continue
            found = _local(os.path.join(dirpath, name), join_dataset_path(prefix, rel))
            if found is not None:
                out.append(found)
    return out


class _Inside:
    """Whether a path met in the walk of ``base`` stays inside it once its links are
    resolved; a link leading outside is skipped, with a warning naming it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.real = os.path.realpath(base)

    def keeps(self, path: str) -> bool:
        if not os.path.islink(path) or not os.path.exists(path):
            return True  # not a link, or a broken one (refused by name where it is read)
        real = os.path.realpath(path)
        if real == self.real or real.startswith(self.real.rstrip(os.sep) + os.sep):
            return True
        log.warning("arno: skipped %s: a symbolic link to %s, outside %s", path, real,
                    self.base)
        return False


def _wild(rel: str, name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(rel if "/" in pattern else name, pattern)


def _walk_error(exc: OSError) -> None:
    raise InvalidInput(f"cannot read folder {exc.filename}: {exc.strerror}")


def _local(path: str, dataset_path: str) -> LocalFile | None:
    """The file at ``path`` (None for a folder, which the walk enters by itself)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InvalidInput(f"{path} is a broken symbolic link") from None
        raise InvalidInput(f"no such file or folder: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        return None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path} is not a regular file")
    return LocalFile(dataset_path, path, st.st_size, st.st_mtime_ns,
                     (st.st_dev, st.st_ino, st.st_ctime_ns))


# ---- hashing ----------------------------------------------------------------------------------
@dataclass(slots=True)
class HashedFile:
    """A local file with its content named: whole-file hash, pieces and their lengths."""

    path: str
    source: str
    size: int
    mtime_ns: int
    hash: str
    pieces: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    stamp: tuple[int, int, int] = (0, 0, 0)

    def entry(self) -> Entry:
        return {"path": self.path, "size": self.size, "hash": self.hash,
                "pieces": list(self.pieces)}

    def source_info(self) -> dict[str, Any]:
        return {"source": self.source, "mtime_ns": self.mtime_ns, "lengths": list(self.lengths)}


def chunker() -> FastCDC:
    return FastCDC(min_size=CDC_MIN, avg_size=CDC_AVG, max_size=CDC_MAX)


def hash_one(item: LocalFile) -> HashedFile:
    """Hash one file (and cut it into pieces when large). A file that cannot be read, or that
    changes size while it is read, raises InvalidInput naming it."""
    try:
        with open(item.source, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            size = st.st_size
            stamp = (st.st_dev, st.st_ino, st.st_ctime_ns)
            if size == 0:
                return HashedFile(item.path, item.source, 0, st.st_mtime_ns, EMPTY_HASH,
                                  stamp=stamp)
            if size < CHUNK_FROM:
                data = fh.read()
                if len(data) != size:
                    raise InvalidInput(f"{item.source} changed while it was read")
                digest = blake3(data).hexdigest()
                return HashedFile(item.path, item.source, size, st.st_mtime_ns, digest,
                                  [digest], [size], stamp)
            # one pass: each piece hashed on its own and fed to the whole file's hash (one
            # thread each: files are hashed side by side, and spreading half a megabyte over
            # threads costs more than it saves)
            whole = blake3()
            pieces: list[str] = []
            lengths: list[int] = []
            for chunk in chunker().cut_stream(fh):
                pieces.append(blake3(chunk.data).hexdigest())
                whole.update(chunk.data)
                lengths.append(chunk.length)
            if sum(lengths) != size:
                raise InvalidInput(f"{item.source} changed while it was read")
            return HashedFile(item.path, item.source, size, st.st_mtime_ns, whole.hexdigest(),
                              pieces, lengths, stamp)
    except PermissionError:
        raise InvalidInput(f"cannot read {item.source}: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {item.source}: {exc.strerror or exc}") from None


class KnownHashes(Protocol):
    """Hashes remembered from earlier runs, keyed by a file's path and stat."""

    def lookup(self, items: list[LocalFile]) -> dict[str, HashedFile]: ...

    def remember(self, hashed: list[HashedFile]) -> None: ...


def hash_files(
    items: Iterable[LocalFile],
    *,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    known: KnownHashes | None = None,
) -> list[HashedFile]:
    """Hash files in threads (BLAKE3 and the chunker release the GIL), in the given order;
    files ``known`` has seen unchanged are not read again. The first file that cannot be read
    stops the work and raises its error."""
    todo = list(items)
    if not todo:
        return []
    seen = known.lookup(todo) if known is not None else {}
    fresh = [item for item in todo if item.source not in seen]

    def batch(items: list[LocalFile]) -> list[HashedFile]:
        done = [hash_one(item) for item in items]
        if progress is not None:
            progress(sum(h.size for h in done))
        return done

    if progress is not None:
        progress(sum(h.size for h in seen.values()))
    # large files one per hand-off, first; small ones in batches, as a thread hand-off per
    # 10 KB file costs more than its hash (the result is put back in order below)
    small = [item for item in fresh if item.size < CHUNK_FROM]
    batches = [[item] for item in fresh if item.size >= CHUNK_FROM]
    batches += [small[i:i + _BATCH] for i in range(0, len(small), _BATCH)]
    hashed = [h for done in run_all(batch, batches, workers or HASH_WORKERS, "arno-hash")
              for h in done]
    if known is not None and hashed:
        known.remember(hashed)
    by_source = {**seen, **{h.source: h for h in hashed}}
    out = []
    for item in todo:
        h = by_source[item.source]
        out.append(h if h.path == item.path else replace(h, path=item.path))
    return out


def run_all(fn: Callable[[T], R], items: list[T], workers: int, name: str) -> list[R]:
    """``fn`` over ``items`` in threads, results in order; the first error is raised once
    every started call has ended (calls not started yet are dropped)."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = [pool.submit(fn, item) for item in items]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
    for f in futures:
        if not f.cancelled() and f.exception() is not None:
            raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]


def piece_spans(files: Iterable[tuple[Entry, dict[str, Any]]]
                ) -> dict[str, tuple[str, int, int]]:
    """``piece_hash -> (local file, offset, length)`` for every piece of files that have a local
    source (the first file holding a piece is where it is read from)."""
    spans: dict[str, tuple[str, int, int]] = {}
    for entry, src in files:
        offset = 0
        for h, length in zip(entry["pieces"], src["lengths"], strict=True):
            spans.setdefault(h, (src["source"], offset, length))
            offset += length
    return spans

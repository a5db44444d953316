"""Writing a dataset version's files into a folder: pieces located in packs, fetched in threads
with HTTP range reads (members close together in one read, so a pack needed whole is read in
one go and a single member alone), each verified against its hash, files assembled beside
their final name and renamed into place when complete.

No path is trusted: every manifest path is checked before anything is written, and folders are
created one level at a time so that a symbolic link on the way cannot lead outside the target.
"""

from __future__ import annotations

import mmap
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blake3 import blake3

from arno.client._dataset_files import EMPTY_HASH, Entry, check_path, run_all
from arno.core.errors import IntegrityError, InvalidInput
from arno.core.packs import decode_member

FETCH_WORKERS = 4
LOCATE_BATCH = 50_000
RANGE_GAP = 1 << 20
"""Members of a pack closer than this are read in one range."""
MAX_RANGES = 8
"""Beyond this many ranges in one pack, read it from its first to its last needed member."""
PART = ".arno-part"


@dataclass(slots=True)
class DownloadStats:
    files: int = 0
    downloaded_files: int = 0
    reused_files: int = 0
    fetched_bytes: int = 0
    requests: int = 0


class Targets:
    """Safe destinations under ``root`` for manifest paths."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(root)
        self._dirs: dict[str, str] = {"": self.root}

    @staticmethod
    def check_all(entries: list[Entry]) -> None:
        """Every path clean, none twice, none both a file and a folder; else InvalidInput."""
        paths: set[str] = set()
        for e in entries:
            path = check_path(e.get("path"))
            if path in paths:
                raise InvalidInput(f"dataset path {path!r} appears twice in the manifest")
            paths.add(path)
        for path in paths:
            parts = path.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in paths:
                    raise InvalidInput(f"dataset path {path!r} is inside a file of the dataset")

    def dest(self, rel: str) -> str:
        folder, _, name = check_path(rel).rpartition("/")
        parent = self._folder(folder)
        dest = os.path.join(parent, name)
        if os.path.isdir(dest) and not os.path.islink(dest):
            raise InvalidInput(f"cannot write {rel!r}: {dest} is a folder")
        return dest

    def _folder(self, rel: str) -> str:
        known = self._dirs.get(rel)
        if known is not None:
            return known
        up, _, name = rel.rpartition("/")
        cur = os.path.join(self._folder(up), name)
        if os.path.islink(cur):
            real = os.path.realpath(cur)
            if real != self.root and not real.startswith(self.root + os.sep):
                raise InvalidInput(f"dataset folder {rel!r} is a symbolic link leading outside "
                                   f"{self.root}; refusing to write through it")
            cur = real
        if not os.path.exists(cur):
            os.mkdir(cur)
        elif not os.path.isdir(cur):
            raise InvalidInput(f"cannot create folder {rel!r}: {cur} is a file")
        self._dirs[rel] = cur
        return cur


@dataclass(frozen=True, slots=True)
class Out:
    """How files are written: read-only or not; ``atomic`` (beside the final name, renamed
    when whole) unless the whole folder is itself renamed into place when done."""

    readonly: bool = False
    atomic: bool = True

    @property
    def mode(self) -> int:
        return 0o444 if self.readonly else 0o666

    def tmp(self, dest: str) -> str:
        if not self.atomic:
            return dest
        head, name = os.path.split(dest)
        return os.path.join(head, f".{name}{PART}")

    def done(self, tmp: str, dest: str) -> None:
        if tmp != dest:
            os.replace(tmp, dest)


def _create(path: str, mode: int = 0o666) -> int:
    """A new, empty file open for writing (a stale one from an earlier run goes)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(path, flags, mode)
    except FileExistsError:
        os.unlink(path)
        return os.open(path, flags, mode)


def place_copy(src: Path | str, dest: str, *, link: bool, out: Out) -> None:
    """Put ``src``'s content at ``dest``: a hard link when ``link`` (a copy when linking is not
    possible), else a copy."""
    tmp = out.tmp(dest)
    _unlink(tmp)
    try:
        if link:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        if out.readonly:
            os.chmod(tmp, 0o444)
        out.done(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise


def write_bytes(dest: str, data: bytes, *, out: Out) -> None:
    tmp = out.tmp(dest)
    fd = _create(tmp, out.mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        out.done(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _Assembler:
    """Files being downloaded. A file of one piece is written whole when its piece arrives; a
    larger one is filled piece by piece in a ``.part`` file, checked whole, then renamed."""

    def __init__(self, files: list[tuple[Entry, str]], *, out: Out) -> None:
        self.files = files
        self.out = out
        self.parts: list[str | None] = []
        self.remaining: list[int] = []
        self.where: dict[str, list[tuple[int, int]]] = {}
        self.writing: set[str] = set()
        self._lock = threading.Lock()

    def start(self, sizes: dict[str, int]) -> None:
        """Create the ``.part`` files of multi-piece files and place each piece in its files
        (``sizes``: the decoded size of every piece)."""
        for entry, dest in self.files:
            pieces = entry["pieces"]
            if len(pieces) == 1:
                if pieces[0] != entry["hash"]:
                    raise IntegrityError(f"the manifest entry of {entry['path']!r} is damaged: "
                                         "its one piece is not its content")
                self.parts.append(None)
            else:
                part = self.out.tmp(dest)
                self.parts.append(part)
                fd = _create(part)
                try:
                    os.ftruncate(fd, entry["size"])
                finally:
                    os.close(fd)
            self.remaining.append(len(pieces))
        for i, (entry, _dest) in enumerate(self.files):
            offset = 0
            for h in entry["pieces"]:
                self.where.setdefault(h, []).append((i, offset))
                offset += sizes[h]
            if offset != entry["size"]:
                raise IntegrityError(f"the pieces of {entry['path']!r} do not add up to its "
                                     "size; the manifest is damaged")

    def names(self, piece: str) -> str:
        return ", ".join(sorted({self.files[i][0]["path"] for i, _ in self.where.get(piece, [])}))

    def put(self, piece: str, data: bytes) -> None:
        for i, offset in self.where.get(piece, []):
            part = self.parts[i]
            if part is None:
                self._write_whole(self.files[i][1], data)
                continue
            fd = os.open(part, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)
            with self._lock:
                self.remaining[i] -= 1
                whole = self.remaining[i] == 0
            if whole:
                self._finish(i)

    def _write_whole(self, dest: str, data: bytes) -> None:
        with self._lock:
            self.writing.add(dest)
        write_bytes(dest, data, out=self.out)
        with self._lock:
            self.writing.discard(dest)

    def _finish(self, i: int) -> None:
        entry, dest = self.files[i]
        part = self.parts[i]
        assert part is not None
        # each piece was checked; the whole is checked once more against the manifest
        with open(part, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            digest = blake3(mm, max_threads=blake3.AUTO).hexdigest()
        if digest != entry["hash"]:
            raise IntegrityError(f"{entry['path']!r} does not match its hash after assembly")
        if self.out.readonly:
            os.chmod(part, 0o444)
        self.out.done(part, dest)
        with self._lock:
            self.parts[i] = None

    def cleanup(self) -> None:
        """Remove what a failure left half-written."""
        for part in [*self.parts, *self.writing]:
            if part is not None:
                _unlink(part)


def _locate(session: Any, hashes: list[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for i in range(0, len(hashes), LOCATE_BATCH):
        answer = session.post("datasets/pieces/locate", {"hashes": hashes[i:i + LOCATE_BATCH]},
                              retry=True)
        found.update(answer["pieces"])
    return found


def _ranges(members: list[tuple[int, int, str, int]]) -> list[tuple[int, int, list[Any]]]:
    """``(start, end, members)`` reads covering ``members`` (offset, length, hash, size)."""
    members.sort()
    spans: list[tuple[int, int, list[Any]]] = []
    for m in members:
        if spans and m[0] - spans[-1][1] <= RANGE_GAP:
            start, _end, group = spans[-1]
            group.append(m)
            spans[-1] = (start, max(_end, m[0] + m[1]), group)
        else:
            spans.append((m[0], m[0] + m[1], [m]))
    if len(spans) > MAX_RANGES:
        spans = [(members[0][0], max(m[0] + m[1] for m in members), members)]
    return spans


def materialize(
    session: Any,
    entries: list[Entry],
    root: Path,
    *,
    reuse: Callable[[Entry], Path | None] | None = None,
    link: bool = False,
    readonly: bool = False,
    atomic: bool = True,
    fetch_external: Callable[[Entry], Path] | None = None,
    progress: Callable[[str, int], None] | None = None,
    advance: Callable[[int], None] | None = None,
    workers: int = FETCH_WORKERS,
) -> DownloadStats:
    """Write ``entries`` under ``root``. Files whose content ``reuse`` finds locally are linked
    (``link``) or copied from there; the rest are downloaded and verified. A damaged piece
    raises IntegrityError and leaves no file of it behind. ``atomic``: each file appears
    whole or not at all (not needed when ``root`` is a private folder renamed when done)."""
    Targets.check_all(entries)
    targets = Targets(root)
    out = Out(readonly, atomic)
    stats = DownloadStats(files=len(entries))
    if progress is not None:
        progress("downloading", sum(int(e.get("size") or 0) for e in entries))
    step = advance or (lambda n: None)
    fetch: list[tuple[Entry, str]] = []
    for e in entries:
        dest = targets.dest(e["path"])
        if e.get("uri"):
            if fetch_external is None:
                raise InvalidInput(f"{e['path']!r} links to {e['uri']}, which cannot be fetched")
            place_copy(fetch_external(e), dest, link=False, out=out)
        elif not e["pieces"]:
            if e["size"] or e["hash"] not in ("", EMPTY_HASH):
                raise IntegrityError(f"{e['path']!r} has no pieces but is not empty")
            write_bytes(dest, b"", out=out)
        else:
            local = reuse(e) if reuse is not None else None
            if local is None:
                fetch.append((e, dest))
                continue
            place_copy(local, dest, link=link, out=out)
            stats.reused_files += 1
        step(int(e.get("size") or 0))
    if fetch:
        _download(session, fetch, out=out, advance=step, workers=workers, stats=stats)
    return stats


def _download(session: Any, files: list[tuple[Entry, str]], *, out: Out,
              advance: Callable[[int], None], workers: int, stats: DownloadStats) -> None:
    needed = list(dict.fromkeys(h for e, _ in files for h in e["pieces"]))
    located = _locate(session, needed)
    absent = [h for h in needed if h not in located]
    if absent:
        raise IntegrityError(f"the server cannot locate piece {absent[0]}")
    by_pack: dict[str, list[tuple[int, int, str, int]]] = {}
    for h in needed:
        pack, offset, length, size = located[h]
        by_pack.setdefault(pack, []).append((int(offset), int(length), h, int(size)))
    jobs = [(pack, start, end, group) for pack, members in by_pack.items()
            for start, end, group in _ranges(members)]
    assembler = _Assembler(files, out=out)
    lock = threading.Lock()

    def one(pack: str, start: int, end: int, group: list[tuple[int, int, str, int]]) -> None:
        base, body = session.get_bytes(f"datasets/packs/{pack}", start, end - 1)
        with lock:
            stats.fetched_bytes += len(body)
            stats.requests += 1
        view = memoryview(body)
        for offset, length, h, size in group:
            framed = view[offset - base: offset - base + length]
            if len(framed) != length:
                raise IntegrityError(f"pack {pack} is shorter than its index says")
            try:
                data = decode_member(framed, h, size)
            except IntegrityError as exc:
                raise IntegrityError(f"{exc.message} (in pack {pack}; file "
                                     f"{assembler.names(h)} was not written)") from None
            assembler.put(h, data)
            advance(size * len(assembler.where.get(h, [])))

    try:
        assembler.start({h: int(located[h][3]) for h in needed})
        run_all(lambda job: one(*job), jobs, workers, "arno-fetch")
    finally:
        assembler.cleanup()
    stats.downloaded_files += len(files)

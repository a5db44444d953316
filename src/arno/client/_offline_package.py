"""Opening an offline task package (a zip or its folder): the one checked path.

A package holds exactly what ``OfflineSession`` writes: ``meta.json``, ``task.json``,
``calls.jsonl`` and ``blobs/<BLAKE3 hash>``. Anything else is refused before a byte is
extracted: member names that are absolute, hold ``..``, backslashes or a drive letter, links,
duplicates, unknown members, and sizes over the limits (a zip's declared sizes are summed
before extraction, and extraction never writes more than was declared). Every blob's content
is checked against its name while it is extracted.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from blake3 import blake3

from arno.core.errors import InvalidInput

FILES = ("meta.json", "task.json", "calls.jsonl")
_BLOB = re.compile(r"blobs/([0-9a-f]{64})")
_COPY = 4 << 20


@dataclass(frozen=True)
class PackageLimits:
    """Bounds on what an import unpacks; the defaults follow the server's own limits."""

    max_members: int = 100_000
    max_member_bytes: int = 100 * 1024**3  # the server's largest upload
    max_total_bytes: int = 200 * 1024**3
    max_meta_bytes: int = 64 * 1024  # meta.json, task.json
    max_call_bytes: int = 64 * 1024**2  # one recorded call: the server's largest JSON body


@dataclass
class Package:
    """A checked package on disk: ``root`` holds the three files; ``blobs`` maps each blob's
    (verified) hash to its file."""

    root: Path
    blobs: dict[str, Path]


def _refuse(source: Path, what: str) -> InvalidInput:
    return InvalidInput(f"{source.name}: {what}; nothing was imported")


def member_kind(name: str) -> str | None:
    """``"file"``, ``"blob"``, ``"skip"`` (a recorder's leftover temporary blob) or None."""
    if name in FILES:
        return "file"
    if _BLOB.fullmatch(name):
        return "blob"
    if name.startswith("blobs/.") and "/" not in name[len("blobs/"):]:
        return "skip"
    return None


def _check_name(source: Path, name: str) -> None:
    bad = (
        not name or "\x00" in name or "\\" in name or name.startswith("/")
        or re.match(r"^[A-Za-z]:", name) is not None
        or any(part in ("", ".", "..") for part in name.rstrip("/").split("/"))
    )
    if bad:
        raise _refuse(source, f"member {name!r} would escape the package folder")


def _limit_for(name: str, limits: PackageLimits) -> int:
    return limits.max_meta_bytes if name in ("meta.json", "task.json") else limits.max_member_bytes


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _plan_zip(source: Path, zf: zipfile.ZipFile, limits: PackageLimits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _refuse(source, f"{len(infos)} members (at most {limits.max_members})")
    seen: set[str] = set()
    keep: list[zipfile.ZipInfo] = []
    total = 0
    for info in infos:
        name = info.filename
        _check_name(source, name)
        if name in seen:
            raise _refuse(source, f"member {name!r} appears twice")
        seen.add(name)
        if info.is_dir():
            if name.rstrip("/") != "blobs":
                raise _refuse(source, f"member {name!r} is not part of an offline task")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(source, f"member {name!r} is a link")
        kind = member_kind(name)
        if kind is None:
            raise _refuse(source, f"not an Arno offline task (member {name!r} is not part "
                                  "of one)")
        if kind == "skip":
            continue
        if info.flag_bits & 0x1:
            raise _refuse(source, f"member {name!r} is encrypted")
        if info.file_size > _limit_for(name, limits):
            raise _refuse(source, f"member {name!r} is {info.file_size} bytes "
                                  f"(at most {_limit_for(name, limits)})")
        total += info.file_size
        keep.append(info)
    if total > limits.max_total_bytes:
        raise _refuse(source, f"it unpacks to {total} bytes (at most {limits.max_total_bytes})")
    return keep


def _copy(source: Path, name: str, src: IO[bytes], dest: Path, limit: int) -> str:
    """Copy at most ``limit`` bytes; return the BLAKE3 of what was copied."""
    h = blake3()
    written = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_COPY):
            written += len(chunk)
            if written > limit:
                raise _refuse(source, f"member {name!r} is larger than it declares")
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def _unzip(source: Path, workdir: Path, limits: PackageLimits) -> Package:
    try:
        with zipfile.ZipFile(source) as zf:
            keep = _plan_zip(source, zf, limits)
            need = sum(i.file_size for i in keep)
            workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if need > _free_bytes(workdir):
                raise _refuse(source, f"it unpacks to {need} bytes, more than the free space "
                                      f"in {workdir}")
            (workdir / "blobs").mkdir(mode=0o700, exist_ok=True)
            blobs: dict[str, Path] = {}
            for info in keep:
                dest = workdir / info.filename
                with zf.open(info) as src:
                    digest = _copy(source, info.filename, src, dest, info.file_size)
                if member_kind(info.filename) == "blob":
                    _check_blob(source, info.filename, digest)
                    blobs[digest] = dest
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, EOFError) as exc:
        raise _refuse(source, f"the zip cannot be read ({exc})") from None
    return Package(workdir, blobs)


def _check_blob(source: Path, name: str, digest: str) -> None:
    if name != f"blobs/{digest}":
        raise _refuse(source, f"{name} does not hold the content its name says")


def _walk(source: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    for entry in os.scandir(source):
        if entry.is_dir(follow_symlinks=False) and entry.name == "blobs":
            for sub in os.scandir(entry.path):
                yield f"blobs/{sub.name}", sub
        else:
            yield entry.name, entry


def _check_folder(source: Path, limits: PackageLimits) -> Package:
    blobs: dict[str, Path] = {}
    total = 0
    count = 0
    for name, entry in _walk(source):
        count += 1
        if count > limits.max_members:
            raise _refuse(source, f"more than {limits.max_members} files")
        kind = member_kind(name)
        if kind is None:
            raise _refuse(source, f"not an Arno offline task ({name!r} is not part of one)")
        if kind == "skip":
            continue
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            raise _refuse(source, f"{name!r} is a link or not a regular file")
        size = entry.stat(follow_symlinks=False).st_size
        if size > _limit_for(name, limits):
            raise _refuse(source, f"{name!r} is {size} bytes (at most {_limit_for(name, limits)})")
        total += size
        if kind == "blob":
            h = blake3()
            with open(entry.path, "rb") as fh:
                while chunk := fh.read(_COPY):
                    h.update(chunk)
            _check_blob(source, name, h.hexdigest())
            blobs[h.hexdigest()] = Path(entry.path)
    if total > limits.max_total_bytes:
        raise _refuse(source, f"it holds {total} bytes (at most {limits.max_total_bytes})")
    return Package(source, blobs)


def open_package(source: Path, workdir: Path, limits: PackageLimits) -> Package:
    """Check ``source`` (a package folder or a zip of one) and return it ready to read; a zip
    is extracted into ``workdir`` only after all its members passed."""
    if source.is_dir():
        if source.is_symlink():
            raise _refuse(source, "the package folder is a link")
        return _check_folder(source, limits)
    if not zipfile.is_zipfile(source):
        raise InvalidInput(f"{source} is neither an offline task folder nor a zip of one")
    return _unzip(source, workdir, limits)

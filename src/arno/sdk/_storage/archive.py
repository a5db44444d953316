"""Archives unpacked for ``get_local_copy(extract_archive=True)``: .zip, .tar.gz and .tgz.

Every member is checked before anything is written: a name that is absolute, climbs out with
``..``, or a link or device in a tar, refuses the whole archive with ``InvalidInput``. The
archive is unpacked into a hidden sibling folder that is renamed into place at the end, so a
crash leaves no half-extracted folder under the final name.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from arno.core.errors import InvalidInput

SUFFIXES = (".zip", ".tar.gz", ".tgz")


def archive_suffix(name: str) -> str | None:
    """The archive suffix of a file name (``.zip``, ``.tar.gz``, ``.tgz``), or None."""
    lower = name.lower()
    return next((s for s in SUFFIXES if lower.endswith(s) and len(lower) > len(s)), None)


def _check_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InvalidInput(
            f"archive {archive.name} refused: member {name!r} would be written outside the "
            "folder it is extracted to"
        )


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        _check_name(archive, info.filename)


def _check_tar(archive: Path, tf: tarfile.TarFile) -> None:
    for member in tf.getmembers():
        _check_name(archive, member.name)
        if member.issym() or member.islnk():
            target = PurePosixPath(member.name).parent / member.linkname
            if member.islnk():
                target = PurePosixPath(member.linkname)
            _check_name(archive, str(target))
        elif not (member.isfile() or member.isdir()):
            raise InvalidInput(f"archive {archive.name} refused: member {member.name!r} is a "
                               "device or pipe, not a file")


def extract(archive: Path, target: Path) -> Path:
    """Unpack ``archive`` into the folder ``target`` (created; reused when it already exists,
    so an archive is unpacked once). Returns ``target``."""
    if target.is_dir():
        os.utime(target)  # recently used, for the cache's eviction order
        return target
    suffix = archive_suffix(archive.name)
    if suffix is None:
        raise InvalidInput(f"{archive.name} is not a .zip, .tar.gz or .tgz archive")
    work = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    work.mkdir(parents=True)
    try:
        if suffix == ".zip":
            try:
                with zipfile.ZipFile(archive) as zf:
                    _check_zip(archive, zf)
                    zf.extractall(work)
            except zipfile.BadZipFile as exc:
                raise InvalidInput(f"{archive.name} is not a readable zip archive ({exc}); "
                                   "pass extract_archive=False for the file itself") from exc
        else:
            try:
                with tarfile.open(archive, "r:gz") as tf:
                    _check_tar(archive, tf)
                    tf.extractall(work, filter="data")
            except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise InvalidInput(f"{archive.name} is not a readable tar.gz archive ({exc}); "
                                   "pass extract_archive=False for the file itself") from exc
        try:
            work.rename(target)
        except OSError:
            if not target.is_dir():  # another process won the race if it is there
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target

"""The local cache behind ``StorageManager.get_local_copy``.

Layout, under the client home (``~/.arno/cache/storage``)::

    <context>/<key>.<name>            a downloaded file (key: 32 hex of the URL's identity)
    <context>/<key>.<name>.extracted/ the same file unpacked, when it is an archive

A file appears under its final name only once complete (written to a hidden ``.part`` beside
it, then renamed), so a crash never leaves a half file that a later call would reuse. Each
context keeps at most ``limit`` files (100 by default, as ``set_cache_file_limit`` sets): after
a download the least recently used ones beyond the limit are removed, with their extracted
folders. Reusing an entry marks it used. Nothing is written for a download that fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from arno.core.errors import InvalidInput
from arno.core.private import private_dir

DEFAULT_FILE_LIMIT = 100
EXTRACTED = ".extracted"
_CONTEXT = re.compile(r"[A-Za-z0-9_.-]{1,64}")

_limits: dict[str, int] = {}


def check_context(cache_context: str | None) -> str:
    context = cache_context or "global"
    if not _CONTEXT.fullmatch(context) or context in (".", ".."):
        raise InvalidInput(f"cache_context {cache_context!r} must be a simple name "
                           "(letters, digits, '_', '-', '.')")
    return context


def set_limit(context: str, limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"cache_file_limit must be a whole number of files >= 1, not {limit!r}")
    _limits[context] = limit
    return limit


def limit_of(context: str) -> int:
    return _limits.get(context, DEFAULT_FILE_LIMIT)


def key_of(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class UrlCache:
    """One cache context: a folder of downloaded files."""

    def __init__(self, root: Path, context: str) -> None:
        self.context = check_context(context)
        self.folder = root / self.context

    def entry(self, identity: str, name: str) -> Path:
        return self.folder / f"{key_of(identity)}.{name}"

    def lookup(self, path: Path) -> Path | None:
        """The entry if it is complete, marked as just used."""
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def fill(self, path: Path, download: Callable[[Path], None]) -> Path:
        """Run ``download(part)`` into a hidden file beside ``path`` and rename it into place;
        on any failure nothing is left behind. Then trim the context to its limit."""
        if not self.folder.is_dir():
            private_dir(self.folder)
        part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            download(part)
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        self.trim(keep=path)
        return path

    def trim(self, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used files beyond the context's limit; returns them."""
        if not self.folder.is_dir():
            return []
        files = []
        for item in self.folder.iterdir():
            if item.name.startswith(".") or not item.is_file():
                continue
            try:
                files.append((item.stat().st_mtime, item))
            except FileNotFoundError:
                continue
        files.sort(reverse=True)
        removed = []
        limit = limit_of(self.context)
        for _, item in files[limit:]:
            if item == keep:
                continue
            item.unlink(missing_ok=True)
            shutil.rmtree(item.with_name(item.name + EXTRACTED), ignore_errors=True)
            removed.append(item)
        return removed

"""BLAKE3 content hashes: validation, streaming hashing, file and bytes helpers."""

from __future__ import annotations

import os
import re
from pathlib import Path

from blake3 import blake3

from arno.core.errors import InvalidInput

HASH_RE = re.compile(r"[0-9a-f]{64}")
"""A content hash: 64 lower-case hex characters (BLAKE3, 256 bits)."""

READ_SIZE = 4 * 1024 * 1024
"""Bytes read at a time when hashing or copying files."""


def is_hash(value: object) -> bool:
    """True if ``value`` is a well-formed content hash."""
    return isinstance(value, str) and HASH_RE.fullmatch(value) is not None


def check_hash(value: object) -> str:
    """Return ``value`` if it is a well-formed content hash, else raise InvalidInput."""
    if not is_hash(value):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise InvalidInput(f"not a content hash (64 lower-case hex characters): {shown}")
    assert isinstance(value, str)
    return value


class Hasher:
    """Incremental BLAKE3 hash that also counts the bytes it has seen."""

    __slots__ = ("_h", "size")

    def __init__(self) -> None:
        self._h = blake3()
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """BLAKE3 hex digest of ``data``."""
    return blake3(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hash a file by streaming it; return ``(hash, size)``."""
    hasher = Hasher()
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    with Path(path).open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
    return hasher.hexdigest(), hasher.size

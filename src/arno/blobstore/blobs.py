"""The content-addressed blob store: bytes named by their BLAKE3 hash.

Blobs live at ``<root>/blobs/<h[:2]>/<h[2:4]>/<h>`` in a local directory or any fsspec
filesystem. A blob appears whole or not at all, is stored once however often it is put, and
is verified against its name when read. Safe to call from many threads at once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from arno.blobstore._backends import Backend, LocalBackend, open_backend, remove_old_files
from arno.blobstore.hashing import READ_SIZE, Hasher, check_hash, hash_bytes, hash_file
from arno.core.errors import IntegrityError, NotFound, PayloadTooLarge

Chunks = Iterable[bytes] | BinaryIO


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: its BLAKE3 hex hash and its size in bytes."""

    hash: str
    size: int


class BlobStore:
    """Content-addressed blobs in a local directory or an fsspec URL (``s3://bucket/prefix``).

    ``options`` go to fsspec (for S3: ``endpoint_url``, ``key``, ``secret``, ``client_kwargs``
    ...). ``tmp_dir`` holds uploads while they are hashed. Remote writes are retried
    ``put_attempts`` times with exponential backoff starting at ``retry_delay`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        options: dict[str, Any] | None = None,
        tmp_dir: Path,
        put_attempts: int = 4,
        retry_delay: float = 0.25,
    ) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._backend: Backend = open_backend(
            str(url), options or {}, put_attempts=put_attempts, retry_delay=retry_delay
        )
        self.url = self._backend.url

    def __repr__(self) -> str:
        return f"BlobStore({self.url!r})"

    @property
    def is_local(self) -> bool:
        """True when blobs are plain files on this machine (see :meth:`local_path`)."""
        return isinstance(self._backend, LocalBackend)

    # -- writing ---------------------------------------------------------------------------

    def put_file(
        self, path: str | os.PathLike[str], *, expected_hash: str | None = None
    ) -> BlobInfo:
        """Store the file at ``path`` (copied, not moved); a no-op if already stored."""
        expected = check_hash(expected_hash) if expected_hash is not None else None
        h, size = hash_file(path)
        _check_expected(h, expected)
        return self._store(Path(path), h, size, own=False)

    def put_hashed_file(self, path: str | os.PathLike[str], hash: str, size: int) -> BlobInfo:
        """Store a temp file of the caller's own whose content it has just hashed (to ``hash``,
        ``size`` bytes): moved into place on a local store rather than copied and hashed
        again; a no-op when the blob is stored already. The caller removes whatever is left at
        ``path``."""
        return self._store(Path(path), check_hash(hash), size, own=True)

    def put_stream(
        self,
        chunks: Chunks,
        *,
        expected_hash: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Store bytes from an iterable of chunks or a binary file object.

        Raises PayloadTooLarge as soon as more than ``max_bytes`` arrive.
        """
        expected = check_hash(expected_hash) if expected_hash is not None else None
        tmp = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            hasher = Hasher()
            with tmp.open("xb") as f:
                for chunk in _iter_source(chunks):
                    if max_bytes is not None and hasher.size + len(chunk) > max_bytes:
                        raise PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")
                    hasher.update(chunk)
                    f.write(chunk)
            h = hasher.hexdigest()
            _check_expected(h, expected)
            return self._store(tmp, h, hasher.size, own=True)
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, *, expected_hash: str | None = None) -> BlobInfo:
        """Store ``data``; a no-op if already stored."""
        expected = check_hash(expected_hash) if expected_hash is not None else None
        data = bytes(data)
        h = hash_bytes(data)
        _check_expected(h, expected)
        if self._backend.stored_size(h) != len(data):
            self._backend.store_bytes(data, h)
        return BlobInfo(h, len(data))

    def _store(self, path: Path, h: str, size: int, *, own: bool) -> BlobInfo:
        # A blob of the right size is the right blob (writes are atomic); a wrong size means
        # damage, which a fresh write repairs.
        if self._backend.stored_size(h) != size:
            self._backend.store_file(path, h, own=own)
        return BlobInfo(h, size)

    # -- reading ---------------------------------------------------------------------------

    def exists(self, hash: str) -> bool:
        return self._backend.stored_size(check_hash(hash)) is not None

    def size(self, hash: str) -> int:
        size = self._backend.stored_size(check_hash(hash))
        if size is None:
            raise NotFound(f"blob {hash} not found")
        return size

    def open(self, hash: str) -> BinaryIO:
        """A readable binary stream of the blob (not verified; see :meth:`iter_chunks`)."""
        try:
            return self._backend.open(check_hash(hash))
        except FileNotFoundError:
            raise NotFound(f"blob {hash} not found") from None

    def read_range(self, hash: str, start: int, length: int) -> bytes:
        """``length`` bytes of the blob from ``start`` (fewer at its end), not verified: one
        ranged read, so a part of a large remote blob costs only its own bytes."""
        if start < 0 or length < 0:
            raise ValueError("a range starts and has a length of at least 0")
        if length == 0:
            return b""
        try:
            return self._backend.read_range(check_hash(hash), start, start + length)
        except FileNotFoundError:
            raise NotFound(f"blob {hash} not found") from None

    def iter_chunks(
        self, hash: str, chunk_size: int = 1 << 20, verify: bool = True
    ) -> Iterator[bytes]:
        """The blob's bytes in chunks. NotFound is raised here, before iteration starts;
        with ``verify``, IntegrityError is raised after the last chunk if the content does
        not match its hash."""
        stream = self.open(hash)
        return _read_chunks(stream, hash, chunk_size, verify)

    def get_file(
        self, hash: str, dest_path: str | os.PathLike[str], verify: bool = True
    ) -> BlobInfo:
        """Download the blob to ``dest_path`` atomically; no file is left there on failure."""
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".arno-{uuid.uuid4().hex}.part")
        size = 0
        try:
            with part.open("xb") as f:
                for chunk in self.iter_chunks(hash, READ_SIZE, verify):
                    f.write(chunk)
                    size += len(chunk)
            os.replace(part, dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return BlobInfo(hash, size)

    def local_path(self, hash: str) -> Path | None:
        """The blob's file when the store is local (for zero-copy serving), else None.

        Raises NotFound if the store is local and the blob is absent.
        """
        path = self._backend.local_path(check_hash(hash))
        if path is not None and not path.is_file():
            raise NotFound(f"blob {hash} not found")
        return path

    # -- housekeeping ----------------------------------------------------------------------

    def delete(self, hash: str) -> None:
        """Remove the blob; nothing happens if it is absent."""
        self._backend.delete(check_hash(hash))

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob with its size."""
        for h, size in self._backend.entries():
            yield BlobInfo(h, size)

    def iter_hashes(self) -> Iterator[str]:
        """The hashes of every stored blob."""
        for h, _ in self._backend.entries():
            yield h

    def used_bytes(self) -> int:
        """Total size of all stored blobs."""
        return sum(size for _, size in self._backend.entries())

    def remove_stale_temp(self, older_than: float = 86400.0) -> int:
        """Delete temp files left by crashed writes over ``older_than`` seconds ago."""
        return remove_old_files(self.tmp_dir, older_than) + self._backend.remove_stale_temp(
            older_than
        )


def _check_expected(actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected:
        raise IntegrityError(
            f"content hash {actual} does not match the expected {expected}",
            details={"expected": expected, "actual": actual},
        )


def _iter_source(chunks: Chunks) -> Iterator[bytes]:
    """Chunks from a binary file object, a bytes-like object or an iterable of them."""
    if isinstance(chunks, bytes | bytearray | memoryview):
        yield bytes(chunks)
        return
    read = getattr(chunks, "read", None)
    if callable(read):
        while chunk := read(READ_SIZE):
            yield chunk
        return
    for chunk in chunks:
        if chunk:
            yield chunk


def _read_chunks(stream: BinaryIO, h: str, chunk_size: int, verify: bool) -> Iterator[bytes]:
    hasher = Hasher()
    with stream:
        while chunk := stream.read(chunk_size):
            if verify:
                hasher.update(chunk)
            yield chunk
    if verify and hasher.hexdigest() != h:
        raise IntegrityError(
            f"stored blob {h} is corrupted: its content hashes to {hasher.hexdigest()}",
            details={"hash": h, "actual": hasher.hexdigest()},
        )

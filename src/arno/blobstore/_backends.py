"""Where blob bytes live: a local directory, or any fsspec filesystem (S3 and friends).

A backend only moves bytes whose hash the caller already knows; hashing, validation and
verification live in :mod:`arno.blobstore.blobs`. Every key is built from a validated hash,
``<root>/blobs/<h[:2]>/<h[2:4]>/<h>``, so no caller-supplied text reaches a path.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from arno.blobstore.hashing import READ_SIZE, Hasher, is_hash
from arno.core.errors import ArnoError, IntegrityError, ServerUnavailable

log = logging.getLogger("arno.blobstore")

T = TypeVar("T")

_PERMANENT_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
_TRANSIENT_ERRNOS = {
    None,
    errno.EAGAIN,
    errno.EBUSY,
    errno.ECONNRESET,
    errno.EIO,
    errno.ETIMEDOUT,
    getattr(errno, "EREMOTEIO", errno.EIO),
}
_NETWORK_MODULES = ("botocore", "aiobotocore", "aiohttp", "urllib3", "requests", "http.client")


def is_transient(exc: BaseException) -> bool:
    """Whether a failed remote call is worth retrying (network trouble, throttling, 5xx)."""
    if isinstance(exc, (ArnoError, *_PERMANENT_OS_ERRORS)):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    return type(exc).__module__.startswith(_NETWORK_MODULES)


def blob_key(root: str, h: str) -> str:
    """The key of blob ``h`` under ``root`` (``h`` must already be validated)."""
    return f"{root}/blobs/{h[:2]}/{h[2:4]}/{h}"


class Backend(Protocol):
    """Byte moving for one store; ``h`` is always a validated hash."""

    url: str

    def stored_size(self, h: str) -> int | None: ...

    def store_file(self, src: Path, h: str, *, own: bool) -> None: ...

    def store_bytes(self, data: bytes, h: str) -> None: ...

    def open(self, h: str) -> BinaryIO: ...

    def read_range(self, h: str, start: int, end: int) -> bytes: ...

    def delete(self, h: str) -> None: ...

    def entries(self) -> Iterator[tuple[str, int]]: ...

    def local_path(self, h: str) -> Path | None: ...

    def remove_stale_temp(self, older_than: float) -> int: ...


def open_backend(
    url: str, options: dict[str, Any], *, put_attempts: int, retry_delay: float
) -> Backend:
    """Build the backend for ``url``: a plain path or ``file://`` is local, anything else fsspec."""
    if "://" not in url:
        return LocalBackend(Path(url).expanduser())
    protocol = url.split("://", 1)[0]
    opts = dict(options)
    if protocol in ("s3", "s3a"):
        # Other processes and replicas write to the same bucket: never trust cached listings.
        opts.setdefault("use_listings_cache", False)
    fs, root = fsspec.core.url_to_fs(url, **opts)
    if isinstance(fs, LocalFileSystem):
        return LocalBackend(Path(root))
    return FsspecBackend(
        fs, url, root.rstrip("/"), put_attempts=put_attempts, retry_delay=retry_delay
    )


class LocalBackend:
    """Blobs as files in a directory; writes land under ``<root>/tmp`` and are renamed in."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = str(self.root)
        self.blobs = self.root / "blobs"
        self.staging = self.root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)

    def _path(self, h: str) -> Path:
        return self.blobs / h[:2] / h[2:4] / h

    def stored_size(self, h: str) -> int | None:
        try:
            return self._path(h).stat().st_size
        except FileNotFoundError:
            return None

    def store_file(self, src: Path, h: str, *, own: bool) -> None:
        final = self._path(h)
        final.parent.mkdir(parents=True, exist_ok=True)
        if own:
            # Our own temp file, already hashed: a rename is enough when on the same device.
            try:
                _fsync_path(src)
                os.replace(src, final)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        self._install(final, lambda f: _copy_hashing(src, f, h))

    def store_bytes(self, data: bytes, h: str) -> None:
        final = self._path(h)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._install(final, lambda f: f.write(data))

    def _install(self, final: Path, write: Callable[[BinaryIO], object]) -> None:
        """Write through ``write`` to a staging file, fsync it, rename it to ``final``."""
        tmp = self.staging / f"{uuid.uuid4().hex}.part"
        try:
            with tmp.open("xb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, h: str) -> BinaryIO:
        return self._path(h).open("rb")

    def read_range(self, h: str, start: int, end: int) -> bytes:
        with self._path(h).open("rb") as f:
            f.seek(start)
            return f.read(end - start)

    def delete(self, h: str) -> None:
        self._path(h).unlink(missing_ok=True)

    def entries(self) -> Iterator[tuple[str, int]]:
        for top in _scan_dirs(self.blobs):
            for sub in _scan_dirs(Path(top.path)):
                with os.scandir(sub.path) as it:
                    for entry in it:
                        name = entry.name
                        if is_hash(name) and name[:2] == top.name and name[2:4] == sub.name:
                            try:
                                yield name, entry.stat().st_size
                            except FileNotFoundError:
                                continue

    def local_path(self, h: str) -> Path | None:
        return self._path(h)

    def remove_stale_temp(self, older_than: float) -> int:
        return remove_old_files(self.staging, older_than)


class FsspecBackend:
    """Blobs as objects of an fsspec filesystem; each put is one atomic object write."""

    def __init__(
        self, fs: Any, url: str, root: str, *, put_attempts: int, retry_delay: float
    ) -> None:
        self.fs = fs
        self.url = url
        self.root = root
        self.put_attempts = max(1, put_attempts)
        self.retry_delay = retry_delay
        self._ensure_root()

    def _ensure_root(self) -> None:
        """Create the bucket (S3) or root directory if missing; failures are only logged."""
        try:
            protocols = self.fs.protocol
            if isinstance(protocols, str):
                protocols = (protocols,)
            if "s3" in protocols:
                bucket = self.root.split("/", 1)[0]
                if not self.fs.exists(bucket):
                    params: dict[str, Any] = {"Bucket": bucket}
                    region = (getattr(self.fs, "client_kwargs", None) or {}).get("region_name")
                    if region and region != "us-east-1":
                        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
                    self.fs.call_s3("create_bucket", **params)
                    self.fs.invalidate_cache()
            else:
                self.fs.makedirs(self.root, exist_ok=True)
        except Exception as exc:  # best effort: the first write reports the real problem
            log.warning("could not create blob store root %s: %s", self.url, exc)

    def _key(self, h: str) -> str:
        return blob_key(self.root, h)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One remote call; transient failures become ServerUnavailable."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_transient(exc):
                raise ServerUnavailable(f"blob store {self.url} unavailable: {exc}") from exc
            raise

    def _retry(self, fn: Callable[..., T], *args: Any) -> T:
        """A remote write, retried with jittered exponential backoff on transient failures."""
        for attempt in range(1, self.put_attempts + 1):
            try:
                return fn(*args)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt == self.put_attempts:
                    raise ServerUnavailable(
                        f"blob store {self.url} unavailable after {attempt} attempts: {exc}"
                    ) from exc
                delay = self.retry_delay * 2 ** (attempt - 1)
                log.info("retrying write to %s in %.2fs: %s", self.url, delay, exc)
                time.sleep(delay * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def stored_size(self, h: str) -> int | None:
        try:
            info = self._call(self.fs.info, self._key(h))
        except FileNotFoundError:
            return None
        return int(info["size"])

    def store_file(self, src: Path, h: str, *, own: bool) -> None:
        self._retry(self.fs.put_file, str(src), self._key(h))

    def store_bytes(self, data: bytes, h: str) -> None:
        self._retry(self.fs.pipe_file, self._key(h), data)

    def open(self, h: str) -> BinaryIO:
        return cast(BinaryIO, self._call(self.fs.open, self._key(h), "rb", block_size=READ_SIZE))

    def read_range(self, h: str, start: int, end: int) -> bytes:
        # one ranged GET, without the read-ahead of a file object
        return cast(bytes, self._call(self.fs.cat_file, self._key(h), start=start, end=end))

    def delete(self, h: str) -> None:
        try:
            self._call(self.fs.rm_file, self._key(h))
        except FileNotFoundError:
            pass

    def entries(self) -> Iterator[tuple[str, int]]:
        try:
            found = self._call(self.fs.find, f"{self.root}/blobs", detail=True)
        except FileNotFoundError:
            return
        for name, info in sorted(found.items()):
            h = name.rsplit("/", 1)[-1]
            if is_hash(h) and name == self._key(h):
                yield h, int(info["size"])

    def local_path(self, h: str) -> Path | None:
        return None

    def remove_stale_temp(self, older_than: float) -> int:
        return 0  # object writes are atomic: a failed put leaves nothing behind


def _copy_hashing(src: Path, dst: BinaryIO, h: str) -> None:
    """Copy ``src`` into ``dst``, refusing if its content no longer hashes to ``h``."""
    hasher = Hasher()
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    with src.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
            dst.write(view[:n])
    if hasher.hexdigest() != h:
        raise IntegrityError(f"{src} changed while it was being stored")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan_dirs(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if e.is_dir()), key=lambda e: e.name)
    except FileNotFoundError:
        return []


def remove_old_files(directory: Path, older_than: float) -> int:
    """Delete ``*.part`` files in ``directory`` last modified over ``older_than`` seconds ago."""
    cutoff = time.time() - older_than
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.name.endswith(".part") and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed

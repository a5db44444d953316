"""Where a URL's bytes live: local paths, http(s), and object stores through fsspec.

Each backend answers the same few questions (see :class:`Backend`); ``StorageManager`` holds
the rules (caching, names, wildcards, errors) once on top of them. The Arno file store
(``arno://``) is in :mod:`arno.sdk._storage.arno_store`. fsspec, s3fs and httpx are imported
inside the calls that use them, so importing the SDK costs none of them.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlparse

from arno.core.errors import (
    ArnoError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServerUnavailable,
)

T = TypeVar("T")


@dataclass
class Stat:
    size: int
    etag: str | None = None
    hash: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Listed:
    url: str
    """The object's full URL."""
    name: str
    """Its name relative to the base: the bucket for object stores, the folder listed for
    local paths, the tree for ``arno://trees``."""
    size: int
    hash: str | None = None


class Backend(Protocol):
    def identity(self, url: str) -> str:
        """What the cache keys a download by."""
    def file_name(self, url: str) -> str:
        """The name a downloaded copy gets."""
    def relative_path(self, url: str) -> str:
        """The path ``download_file`` recreates under its folder."""
    def stat(self, url: str) -> Stat | None:
        """Size (and etag or hash when known) of a file; None when there is no file."""
    def fetch(self, url: str, dest: Path) -> None:
        """Write the file's bytes to ``dest``; ``NotFound`` when there is no file."""
    def put(self, local: Path, url: str) -> str:
        """Store ``local`` at ``url``; returns the URL it can be read back from."""
    def walk(self, url: str) -> list[Listed]:
        """Every file under ``url`` taken as a prefix."""


def retrying(attempts: int, action: Callable[[], T]) -> T:
    """``action()``, tried ``attempts`` times in all on connection-type failures."""
    for attempt in range(max(1, attempts)):
        try:
            return action()
        except (OSError, ServerUnavailable) as exc:
            if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError) or (
                    attempt + 1 >= attempts):
                raise
            time.sleep(min(0.25 * 2**attempt, 4.0))
    raise AssertionError("unreachable")


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        shutil.copyfile(src, part)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


# ---- local paths and file:// ------------------------------------------------------------------
def local_path(url: str) -> Path:
    if url.startswith("file://"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInput(f"{url}: file:// URLs name a path on this machine "
                               "(file:///abs/path)")
        return Path(unquote(parsed.path))
    return Path(url).expanduser()


class LocalBackend:
    def identity(self, url: str) -> str:
        path = local_path(url).resolve()
        st = path.stat()
        return f"file://{path}|{st.st_size}|{st.st_mtime_ns}"

    def file_name(self, url: str) -> str:
        return local_path(url).name

    def relative_path(self, url: str) -> str:
        return local_path(url).name

    def stat(self, url: str) -> Stat | None:
        path = local_path(url)
        if not path.is_file():
            return None
        st = path.stat()
        return Stat(st.st_size, extra={"last_modified": st.st_mtime})

    def fetch(self, url: str, dest: Path) -> None:
        path = local_path(url)
        if not path.is_file():
            raise NotFound(f"no file at {url}")
        shutil.copyfile(path, dest)

    def put(self, local: Path, url: str) -> str:
        dest = local_path(url)
        if url.endswith(("/", os.sep)) or dest.is_dir():
            dest = dest / local.name
        _copy_atomic(local, dest)
        return url if not url.endswith(("/", os.sep)) else str(dest)

    def walk(self, url: str) -> list[Listed]:
        base = local_path(url)
        if base.is_file():
            return [Listed(str(base), base.name, base.stat().st_size)]
        if base.is_dir():
            roots, rel_to = [base], base
        elif base.parent.is_dir():  # a prefix: /data/run_ lists /data/run_*/...
            roots = sorted(p for p in base.parent.iterdir() if p.name.startswith(base.name))
            rel_to = base.parent
        else:
            return []
        out = []
        for root in roots:
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            out += [Listed(str(p), p.relative_to(rel_to).as_posix(), p.stat().st_size)
                    for p in files]
        return out


# ---- http(s): download only -------------------------------------------------------------------
def _http_error(url: str, status: int) -> ArnoError:
    if status in (404, 410):
        return NotFound(f"{url} answered {status}: no such file")
    if status in (401, 403):
        return Forbidden(f"{url} answered {status}: not allowed")
    if status >= 500:
        return ServerUnavailable(f"{url} answered {status}")
    return InvalidInput(f"{url} answered {status}")


class HttpBackend:
    def identity(self, url: str) -> str:
        return url

    def file_name(self, url: str) -> str:
        return PurePosixPath(unquote(urlparse(url).path)).name or "download"

    def relative_path(self, url: str) -> str:
        return unquote(urlparse(url).path).lstrip("/") or "download"

    def stat(self, url: str) -> Stat | None:
        import httpx

        try:
            resp = httpx.head(url, follow_redirects=True, timeout=30)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"cannot reach {url}: {exc}") from exc
        if resp.status_code in (404, 410):
            return None
        if resp.status_code >= 400:
            raise _http_error(url, resp.status_code)
        size = resp.headers.get("content-length")
        return Stat(int(size) if size is not None else -1, etag=resp.headers.get("etag"),
                    extra={"last_modified": resp.headers.get("last-modified")})

    def fetch(self, url: str, dest: Path) -> None:
        import httpx

        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as resp:
                if resp.status_code >= 400:
                    raise _http_error(url, resp.status_code)
                with dest.open("wb") as fh:
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"download of {url} failed: {exc}") from exc

    def put(self, local: Path, url: str) -> str:
        raise InvalidInput(f"cannot upload to {url}: http(s) is read-only here; upload to the "
                           "Arno file store (arno://), an s3:// bucket or a path")

    def walk(self, url: str) -> list[Listed]:
        raise InvalidInput(f"cannot list {url}: http(s) has no listing; list an s3:// prefix, "
                           "a local folder or an arno://trees/ folder")


# ---- object stores through fsspec (s3://, gs://, az://, ...) ------------------------------
class FsspecBackend:
    """Any protocol fsspec knows. For s3:// the endpoint and keys come from the usual AWS
    environment variables (read by botocore) or from the ``[storage.s3]`` table of the
    client's ``config.toml`` (see :func:`s3_options`)."""

    def __init__(self, protocol: str, options: dict[str, Any]) -> None:
        self.protocol = protocol
        self.options = options
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            try:
                self._fs = fsspec.filesystem(self.protocol, **self.options)
            except ImportError as exc:
                extra = " (pip install 'arno[s3]')" if self.protocol in ("s3", "s3a") else ""
                raise InvalidInput(f"{self.protocol}:// needs a package that is not "
                                   f"installed{extra}: {exc}") from exc
        return self._fs

    def _path(self, url: str) -> str:
        path = url.split("://", 1)[1]
        if not path or path.startswith("/"):
            raise InvalidInput(f"{url} names no bucket")
        return path

    def identity(self, url: str) -> str:
        return url

    def file_name(self, url: str) -> str:
        return PurePosixPath(self._path(url)).name or "download"

    def relative_path(self, url: str) -> str:
        bucket, _, key = self._path(url).partition("/")
        return key or bucket

    def stat(self, url: str) -> Stat | None:
        try:
            info = self.fs.info(self._path(url))
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        etag = info.get("ETag") or info.get("etag")
        return Stat(int(info.get("size") or 0), etag=str(etag).strip('"') if etag else None,
                    extra={"last_modified": str(info.get("LastModified") or "") or None})

    def fetch(self, url: str, dest: Path) -> None:
        path = self._path(url)
        try:
            with self.fs.open(path, "rb") as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out, 4 << 20)
        except FileNotFoundError as exc:
            raise NotFound(f"no file at {url}") from exc

    def put(self, local: Path, url: str) -> str:
        if url.endswith("/"):
            url += local.name
        self.fs.put_file(str(local), self._path(url))
        return url

    def walk(self, url: str) -> list[Listed]:
        path = self._path(url).rstrip("/")
        bucket = path.split("/", 1)[0]
        if "/" in path and not url.endswith("/") and not self.fs.isdir(path):
            parent = path.rsplit("/", 1)[0]  # a prefix: s3://b/run_ lists s3://b/run_*/...
        else:
            parent = path
        try:
            found = self.fs.find(parent, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for key, info in sorted(found.items()):
            if info.get("type") == "directory" or not (key == path or key.startswith(
                    path + "/") or (parent != path and key.startswith(path))):
                continue
            name = key[len(bucket) + 1:] if key.startswith(bucket + "/") else key
            out.append(Listed(f"{self.protocol}://{key}", name, int(info.get("size") or 0)))
        return out


_BUCKETS: dict[str, dict[str, Any]] = {}
"""Per-bucket settings given in this process (``Task.setup_aws_upload``), over config.toml."""


def register_bucket(bucket: str, settings: dict[str, Any]) -> None:
    """Use ``settings`` (``key``, ``secret``, ``token``, ``endpoint_url``, ``region``) for
    ``bucket`` in this process, over what ``config.toml`` says."""
    _BUCKETS[bucket] = {k: v for k, v in settings.items() if v not in (None, "")}


def s3_options(config_file: dict[str, Any], bucket: str) -> dict[str, Any]:
    """s3fs options from ``config.toml``::

        [storage.s3]                      # every bucket
        endpoint_url = "http://127.0.0.1:9000"
        key = "..."
        secret = "..."
        region = "us-east-1"
        [storage.s3.buckets.my-bucket]    # one bucket, over the table above
        endpoint_url = "https://s3.example.com"

    With none of these, botocore's own sources apply (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``~/.aws``)."""
    table = dict(config_file.get("storage", {}).get("s3", {}))
    per_bucket = table.pop("buckets", {}).get(bucket, {})
    table.update(per_bucket)
    table.update(_BUCKETS.get(bucket, {}))
    opts: dict[str, Any] = {"use_listings_cache": False}
    for name in ("key", "secret", "token", "anon"):
        if table.get(name) not in (None, ""):
            opts[name] = table[name]
    client_kwargs = {}
    if table.get("endpoint_url"):
        client_kwargs["endpoint_url"] = table["endpoint_url"]
    if table.get("region"):
        client_kwargs["region_name"] = table["region"]
    if client_kwargs:
        opts["client_kwargs"] = client_kwargs
    return opts

"""``StorageManager``: fetch and store files by URL (Arno's blob store, local paths, any
fsspec URL such as s3:// when s3fs is installed, http(s))."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from arno.core.errors import InvalidInput, NotFound
from arno.sdk import _context
from arno.sdk._artifacts import fetch_blob

BLOB_PREFIX = "arno://blobs/"


def _cache_dir() -> Path:
    return _context.home() / "cache" / "urls"


class StorageManager:
    @staticmethod
    def get_local_copy(remote_url: str, cache_context: str | None = None,
                       extract_archive: bool = True, force_download: bool = False,
                       **_: Any) -> str:
        """A local path for ``remote_url``, downloaded once and cached."""
        if remote_url.startswith(BLOB_PREFIX):
            hash_ = remote_url[len(BLOB_PREFIX):]
            return str(fetch_blob(_context.session(), hash_))
        parsed = urlparse(remote_url)
        if parsed.scheme in ("", "file"):
            path = Path(parsed.path if parsed.scheme else remote_url)
            if not path.exists():
                raise NotFound(f"no file at {remote_url}")
            return str(path)
        key = hashlib.sha256(remote_url.encode()).hexdigest()
        target = _cache_dir() / key / (Path(parsed.path).name or "download")
        if target.exists() and not force_download:
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_suffix(target.suffix + ".part")
        if parsed.scheme in ("http", "https"):
            with httpx.stream("GET", remote_url, follow_redirects=True, timeout=60) as resp:
                if resp.status_code == 404:
                    raise NotFound(f"{remote_url} answered 404")
                resp.raise_for_status()
                with part.open("wb") as fh:
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
        else:
            import fsspec

            with fsspec.open(remote_url, "rb") as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        part.replace(target)
        return str(target)

    @staticmethod
    def download_file(remote_url: str, local_folder: str | None = None,
                      overwrite: bool = False, **_: Any) -> str:
        local = Path(StorageManager.get_local_copy(remote_url))
        folder = Path(local_folder or ".")
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / Path(urlparse(remote_url).path).name
        if dest.exists() and not overwrite:
            return str(dest)
        shutil.copyfile(local, dest)
        return str(dest)

    @staticmethod
    def upload_file(local_file: str, remote_url: str | None = None,
                    wait_for_upload: bool = True, **_: Any) -> str:
        """Store a file; with no ``remote_url`` (or ``arno://``) it goes to the Arno server's
        blob store and the returned URL is ``arno://blobs/<hash>``."""
        path = Path(local_file)
        if not path.is_file():
            raise InvalidInput(f"no file at {local_file}")
        if not remote_url or remote_url.startswith("arno://"):
            hash_, _size = _context.session().upload_file(path)
            return BLOB_PREFIX + hash_
        parsed = urlparse(remote_url)
        if parsed.scheme in ("", "file"):
            dest = Path(parsed.path if parsed.scheme else remote_url)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            return str(dest)
        import fsspec

        with path.open("rb") as src, fsspec.open(remote_url, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return remote_url

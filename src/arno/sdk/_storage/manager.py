"""``StorageManager``: read and write files by URL, with a local cache.

URLs: local paths and ``file://``; ``http(s)://`` (read only); ``s3://`` and any other protocol
fsspec knows (``gs://``, ``az://`` with their packages installed); and ``arno://``, the Arno
server's file store (see :mod:`arno.sdk._storage.arno_store`): ``upload_file`` without a
``remote_url``, or with an ``arno://`` one, stores the file there and returns
``arno://blobs/<hash>/<name>``; ``upload_folder`` to ``arno://`` returns ``arno://trees/<hash>``.

Errors raise the ``ArnoError`` tree: ``InvalidInput`` for a URL, name or argument that cannot
work (an unknown scheme, a path or archive member leaving its folder, listing over http),
``NotFound`` for a missing file, ``ServerUnavailable`` when a server cannot be reached,
``IntegrityError`` when bytes from the Arno store do not match their hash. Where a ClearML
method answers ``None`` on error, Arno raises, except where ``silence_errors=True`` asks not to.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from arno.core.errors import ArnoError, InvalidInput, NotFound
from arno.sdk import _context
from arno.sdk._storage import archive
from arno.sdk._storage.backends import Backend, retrying
from arno.sdk._storage.cache import EXTRACTED, UrlCache, check_context, set_limit

log = logging.getLogger("arno.storage")

FILE_UPLOAD_RETRIES = 3
_uploads: ThreadPoolExecutor | None = None
_chunk_sizes_mb = {"upload": 5, "download": 5}


def _root() -> Path:
    return _context.home() / "cache" / "storage"


def backend_for(url: str) -> Backend:
    """The backend that serves ``url``; ``InvalidInput`` for a scheme nothing serves."""
    from arno.sdk._storage import backends

    if not isinstance(url, str | os.PathLike) or not str(url):
        raise InvalidInput(f"a URL or path is needed, not {url!r}")
    url = str(url)
    scheme = urlparse(url).scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:  # a path (or a Windows drive letter)
        return backends.LocalBackend()
    if scheme in ("http", "https"):
        return backends.HttpBackend()
    if scheme == "arno":
        from arno.sdk._storage.arno_store import ArnoBackend

        return ArnoBackend(_context.session(), _root() / "manifests")
    import fsspec

    if scheme not in fsspec.available_protocols():
        raise InvalidInput(f"{url}: unknown scheme {scheme!r}; use a path, file://, http(s)://, "
                           "s3:// (or another fsspec protocol) or arno://")
    options: dict[str, Any] = {}
    if scheme in ("s3", "s3a"):
        from arno.core.config_file import read_config_file

        bucket = url.split("://", 1)[1].split("/", 1)[0]
        options = backends.s3_options(read_config_file(_context.config().config_path), bucket)
    return backends.FsspecBackend(scheme, options)


def _is_local(url: str) -> bool:
    scheme = urlparse(str(url)).scheme
    return scheme in ("", "file") or len(scheme) == 1


def _inside(folder: Path, relative: str, url: str) -> Path:
    """``folder / relative``, refused when it would leave ``folder``."""
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not parts or relative.startswith("/") or ".." in parts:
        raise InvalidInput(f"{url}: {relative!r} would be written outside {folder}")
    return folder.joinpath(*parts)


def _file_name(name: str) -> str:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InvalidInput(f"name {name!r} must be a plain file name (no folders)")
    return name


def _uploader() -> ThreadPoolExecutor:
    global _uploads
    if _uploads is None:
        # Its threads are joined at interpreter exit, so a queued upload is not lost.
        _uploads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="arno-storage-upload")
    return _uploads


class StorageManager:
    """Files by URL: download with a cache, upload, list. Class methods only."""

    @classmethod
    def get_stream(cls, remote_url: str, chunk_size: int | None = None) -> Iterator[bytes]:
        """The bytes of ``remote_url``'s file in chunks of ``chunk_size`` (64 KiB by default),
        read from its local copy (downloaded into the cache first when remote)."""
        if chunk_size is not None and chunk_size <= 0:
            raise InvalidInput(f"chunk_size must be positive, got {chunk_size}")
        path = Path(cls.get_local_copy(remote_url, extract_archive=False))
        if path.is_dir():
            raise InvalidInput(f"{remote_url} is a folder; get_stream reads one file")
        size = chunk_size or 1 << 16

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while chunk := fh.read(size):
                    yield chunk

        return chunks()

    @classmethod
    def get_local_copy(cls, remote_url: str, cache_context: str | None = None,
                       extract_archive: bool = True, name: str | None = None,
                       force_download: bool = False) -> str:
        """A local path holding ``remote_url``'s file. A local file is returned as it is;
        anything else is downloaded once into the cache (``~/.arno/cache/storage/<context>``)
        and reused by later calls without asking the remote again, unless ``force_download``.
        With ``extract_archive`` a .zip, .tar.gz or .tgz comes back unpacked, as a folder
        (unpacked once). ``name`` names the local copy (useful when the URL has no file
        name, e.g. to mark it as a .zip)."""
        context = check_context(cache_context)
        backend = backend_for(remote_url)
        file_name = _file_name(name) if name else backend.file_name(remote_url)
        if _is_local(remote_url):
            local = str(_local_of(remote_url))
            if Path(local).is_dir():
                return local  # a local folder is usable as it is
            if backend.stat(remote_url) is None:
                raise NotFound(f"no file at {remote_url}")
            if extract_archive and archive.archive_suffix(file_name):
                cache = UrlCache(_root(), context)
                entry = cache.entry(backend.identity(remote_url), file_name)
                cache.folder.mkdir(parents=True, exist_ok=True)
                return str(archive.extract(Path(local), entry.with_name(entry.name + EXTRACTED)))
            return local
        cache = UrlCache(_root(), context)
        entry = cache.entry(backend.identity(remote_url), file_name)
        extracted = entry.with_name(entry.name + EXTRACTED)
        if force_download:
            entry.unlink(missing_ok=True)
            shutil.rmtree(extracted, ignore_errors=True)
        if cache.lookup(entry) is None:
            cache.fill(entry, lambda part: backend.fetch(remote_url, part))
        if extract_archive and archive.archive_suffix(file_name):
            return str(archive.extract(entry, extracted))
        return str(entry)

    @classmethod
    def download_file(cls, remote_url: str, local_folder: str | None = None,
                      overwrite: bool = False, skip_zero_size_check: bool = False,
                      silence_errors: bool = False) -> str | None:
        """Download ``remote_url`` under ``local_folder`` (default: the cache's download
        folder), keeping its path inside the bucket (``s3://b/sub/f.txt`` ->
        ``<folder>/sub/f.txt``) or the Arno folder; a local or http(s) file keeps its path
        without host. An existing file is kept unless ``overwrite``. A 0-byte result is an
        error unless ``skip_zero_size_check``. Returns the local path."""
        try:
            backend = backend_for(remote_url)
            folder = Path(local_folder).expanduser() if local_folder else _root() / "downloads"
            rel = backend.relative_path(remote_url)
            target = _inside(folder.absolute(), rel, remote_url)
            return _download_to(backend, remote_url, target, overwrite, skip_zero_size_check)
        except ArnoError:
            if silence_errors:
                log.warning("download of %s failed", remote_url, exc_info=True)
                return None
            raise

    @classmethod
    def upload_file(cls, local_file: str, remote_url: str | None = None,
                    wait_for_upload: bool = True, retries: int | None = None) -> str:
        """Store ``local_file`` at ``remote_url`` (a path, s3://..., or arno:// / None for the
        Arno file store) and return the URL to read it back: ``remote_url`` itself, or
        ``arno://blobs/<hash>/<name>`` for the Arno store. With ``wait_for_upload=False`` the
        file is copied aside and uploaded by a background thread (completed before the
        process exits); the URL is returned at once."""
        path = Path(local_file).expanduser()
        if not path.is_file():
            raise NotFound(f"no file at {local_file}")
        url = str(remote_url) if remote_url else "arno://"
        backend = backend_for(url)
        attempts = 1 + (retries if retries else FILE_UPLOAD_RETRIES)
        if wait_for_upload:
            return retrying(attempts, lambda: backend.put(path, url))
        final = _predicted_url(backend, path, url)
        spool = Path(tempfile.mkdtemp(prefix="arno-upload-"))
        staged = spool / path.name
        shutil.copyfile(path, staged)

        def run() -> None:
            try:
                retrying(attempts, lambda: backend.put(staged, url))
            except Exception:
                log.exception("background upload of %s to %s failed", local_file, url)
            finally:
                shutil.rmtree(spool, ignore_errors=True)

        _uploader().submit(run)
        return final

    @classmethod
    def upload_folder(cls, local_folder: str, remote_url: str | None = None,
                      match_wildcard: str | None = None, retries: int | None = None) -> str:
        """Upload every file under ``local_folder`` (those matching ``match_wildcard``, e.g.
        ``*.json``) to ``remote_url``, keeping sub-folders. Returns ``remote_url``; for the
        Arno file store (arno:// or None) the folder's new address, ``arno://trees/<hash>``."""
        from arno.sdk._storage.folders import upload_folder

        folder = Path(local_folder).expanduser()
        if not folder.is_dir():
            raise NotFound(f"no folder at {local_folder}")
        url = str(remote_url) if remote_url else "arno://"
        return upload_folder(backend_for(url), folder, url, match_wildcard,
                             1 + (retries if retries else FILE_UPLOAD_RETRIES))

    @classmethod
    def download_folder(cls, remote_url: str, local_folder: str | None = None,
                        match_wildcard: str | None = None, overwrite: bool = False,
                        skip_zero_size_check: bool = False, silence_errors: bool = False,
                        max_workers: int | None = None) -> str:
        """Download every file under ``remote_url`` (matching ``match_wildcard`` against the
        full URL) into ``local_folder``, each at the name ``list`` gives it. Returns the
        folder. With ``silence_errors`` a failed file is logged and skipped."""
        from arno.sdk._storage.folders import download_folder

        folder = Path(local_folder).expanduser() if local_folder else _root() / "downloads"
        backend = backend_for(remote_url)
        return download_folder(backend, remote_url, folder.absolute(), match_wildcard,
                               overwrite, skip_zero_size_check, silence_errors, max_workers)

    @classmethod
    def list(cls, remote_url: str, return_full_path: bool = False, with_metadata: bool = False,
             read_hash: bool = False) -> list[Any]:
        """The files under ``remote_url`` taken as a prefix: names relative to the bucket for
        object stores, to the listed folder for local paths, to the folder for
        ``arno://trees/``. ``with_metadata`` gives dicts ``{"name", "size"}`` (and ``"hash"``
        with ``read_hash`` where the store knows it, as the Arno store does)."""
        items = backend_for(remote_url).walk(remote_url)
        if not with_metadata:
            return [i.url if return_full_path else i.name for i in items]
        out = []
        for i in items:
            meta: dict[str, Any] = {"name": i.url if return_full_path else i.name,
                                    "size": i.size}
            if read_hash and i.hash:
                meta["hash"] = i.hash
            out.append(meta)
        return out

    @classmethod
    def exists_file(cls, remote_url: str) -> bool:
        """True when ``remote_url`` is a file (a folder or prefix is not)."""
        if str(remote_url).endswith("/"):
            return False
        return backend_for(remote_url).stat(remote_url) is not None

    @classmethod
    def get_file_size_bytes(cls, remote_url: str, silence_errors: bool = False) -> int | None:
        """The file's size; ``NotFound`` if there is none (None with ``silence_errors``)."""
        try:
            st = backend_for(remote_url).stat(remote_url)
            if st is None:
                raise NotFound(f"no file at {remote_url}")
            return st.size
        except ArnoError:
            if silence_errors:
                return None
            raise

    @classmethod
    def get_metadata(cls, remote_url: str, return_full_path: bool = False,
                     read_hash: bool = False) -> dict[str, Any]:
        """``{"name", "size"}`` of a file (plus ``"etag"``/``"last_modified"`` where the
        store gives them, ``"hash"`` with ``read_hash`` where it is known)."""
        backend = backend_for(remote_url)
        st = backend.stat(remote_url)
        if st is None:
            raise NotFound(f"no file at {remote_url}")
        meta: dict[str, Any] = {
            "name": str(remote_url) if return_full_path else backend.relative_path(remote_url),
            "size": st.size}
        if st.etag:
            meta["etag"] = st.etag
        meta.update({k: v for k, v in st.extra.items() if v is not None})
        if read_hash and st.hash:
            meta["hash"] = st.hash
        return meta

    @classmethod
    def set_cache_file_limit(cls, cache_file_limit: int, cache_context: str | None = None
                             ) -> int:
        """Keep at most ``cache_file_limit`` files in the cache context (default 100); the
        least recently used go first. Returns the new limit."""
        context = check_context(cache_context)
        limit = set_limit(context, cache_file_limit)
        UrlCache(_root(), context).trim()
        return limit

    @classmethod
    def get_files_server(cls) -> str:
        """Where uploads go by default: the Arno file store."""
        return "arno://"

    @classmethod
    def set_report_upload_chunk_size(cls, chunk_size_mb: int) -> None:
        """Accepted for compatibility; Arno does not log upload progress per chunk."""
        _chunk_sizes_mb["upload"] = int(chunk_size_mb)

    @classmethod
    def set_report_download_chunk_size(cls, chunk_size_mb: int) -> None:
        """Accepted for compatibility; Arno does not log download progress per chunk."""
        _chunk_sizes_mb["download"] = int(chunk_size_mb)


def _local_of(url: str) -> Path:
    from arno.sdk._storage.backends import local_path

    return local_path(url)


def _predicted_url(backend: Backend, path: Path, url: str) -> str:
    """The URL ``backend.put(path, url)`` will return, known before the upload."""
    from arno.sdk._storage.arno_store import ArnoBackend, blob_url, upload_name

    if isinstance(backend, ArnoBackend):
        from arno.sdk._storage.arno_store import content_hash

        return blob_url(content_hash(path), upload_name(url, path))
    if url.endswith("/"):
        return str(Path(url) / path.name) if _is_local(url) else url + path.name
    return url


def _download_to(backend: Backend, url: str, target: Path, overwrite: bool,
                 skip_zero_size_check: bool) -> str:
    if target.exists() and not overwrite:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        backend.fetch(url, part)
        if not skip_zero_size_check and part.stat().st_size == 0:
            raise InvalidInput(f"{url} is empty (0 bytes); pass skip_zero_size_check=True to "
                               "accept empty files")
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return str(target)

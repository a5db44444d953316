"""A dataset version's local copies (read-only in the cache, or writable where asked), and
what it carries besides its files: a logger (tables, histograms, plots shown with the version)
and metadata objects, both through the version's task."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from arno.client._dataset_cache import DatasetCache, _rmtree, cached_copy, content_key
from arno.client._dataset_download import materialize
from arno.client._dataset_files import Entry
from arno.client._progress import ProgressBar
from arno.core.errors import Conflict, InvalidInput, NotFound
from arno.sdk import _context
from arno.sdk._artifacts import Artifact, upload_artifact

if TYPE_CHECKING:
    from arno.sdk._logger import Logger


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: where it sits, its size and content hash, and either the
    pieces it is stored as or the link it points to."""

    relative_path: str
    size: int
    hash: str
    parent_dataset_id: str
    pieces: list[str] = field(default_factory=list)
    link: str | None = None
    local_path: str | None = None
    """The local file it was added from, until the version is uploaded."""

    @classmethod
    def of(cls, entry: dict[str, Any], version_id: str, source: dict[str, Any] | None
           ) -> FileEntry:
        return cls(entry["path"], int(entry.get("size") or 0), str(entry.get("hash") or ""),
                   version_id, list(entry.get("pieces") or []), entry.get("uri"),
                   source["source"] if source else None)


class DatasetExtras:
    _session: Any
    _task: Any
    id: str

    def _check_mutable(self) -> None:
        raise NotImplementedError

    def is_final(self) -> bool:
        raise NotImplementedError

    def _pending(self) -> Any:
        raise NotImplementedError

    def _manifest(self, version_id: str | None = None) -> list[Entry]:
        raise NotImplementedError

    def get_logger(self) -> Logger:
        """A Logger reporting into this version (its tables and plots show with it)."""
        if self._task is None:
            from arno.sdk._task import Task

            self._task = Task(self._session, self._session.get(f"tasks/{self.id}"))
            atexit.register(self._task.flush, wait_for_uploads=True, timeout=30)
        logger: Logger = self._task.get_logger()
        return logger

    def set_metadata(self, metadata: Any, metadata_name: str = "metadata",
                     ui_visible: bool = True) -> None:
        """Attach an object (a pandas DataFrame, a dict, ...) to the version by name."""
        self._check_mutable()
        upload_artifact(self._session, self.id, metadata_name, metadata, mode="output")

    def get_metadata(self, metadata_name: str = "metadata") -> Any:
        """The object stored with :meth:`set_metadata`, or None."""
        try:
            info = self._session.get(
                f"tasks/{self.id}/artifacts/{quote(metadata_name, safe='')}")
        except NotFound:
            return None
        return Artifact(self._session, info).get()

    # ---- local copies ------------------------------------------------------------------------
    def _cache(self) -> DatasetCache:
        cfg = _context.config()
        return DatasetCache(cfg.home / "datasets", cfg.dataset_cache_limit)

    def get_local_copy(self, use_soft_links: bool | None = None, part: int | None = None,
                       num_parts: int | None = None, raise_on_error: bool = True,
                       max_workers: int | None = None, files: list[str] | None = None,
                       show_progress: bool = True) -> str | None:
        """A read-only folder with the version's files, in the local cache: repeated calls
        are free, and files already cached under any version are hard-linked, not fetched.
        With ``files`` (dataset paths) only those are fetched, into a folder of their own
        (the whole version's folder when it is cached already)."""
        try:
            if not self.is_final():
                raise Conflict(f"dataset version {self.id} is not finalized; finalize it, or "
                               "use get_mutable_local_copy()")
            if files is not None:
                return self._partial_copy(list(files), show_progress, max_workers)
            cache = self._cache()
            try:
                with ProgressBar(show_progress) as bar:
                    path, _stats = cached_copy(self._session, cache, self.id, self._manifest,
                                               fetch_external=_fetch_external,
                                               progress=bar.phase, advance=bar.advance)
            finally:
                cache.close()
            return str(path)
        except Exception:
            if raise_on_error:
                raise
            return None

    def _partial_copy(self, files: list[str], show_progress: bool, workers: int | None
                      ) -> str:
        if isinstance(files, str) or not all(isinstance(f, str) for f in files):
            raise InvalidInput("files must be a list of dataset paths")
        cache = self._cache()
        try:
            whole = cache.lookup(self.id)
            wanted = set(files)
            entries = [e for e in self._manifest() if e["path"] in wanted]
            unknown = wanted - {e["path"] for e in entries}
            if unknown:
                raise NotFound(f"dataset version {self.id} has no file "
                               f"{sorted(unknown)[0]!r}")
            if whole is not None:
                return str(whole)
            local = cache.find_many(entries)
        finally:
            cache.close()
        name = hashlib.sha256("\0".join(sorted(wanted)).encode()).hexdigest()[:16]
        target = _context.home() / "datasets" / "partial" / self.id / name
        if not target.is_dir():
            staging = target.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            with ProgressBar(show_progress) as bar:
                materialize(self._session, entries, staging,
                            reuse=lambda e: (local.get(content_key(e)) or (None, None))[1],
                            link=False, readonly=True, atomic=False,
                            fetch_external=_fetch_external, progress=bar.phase,
                            advance=bar.advance, workers=workers or 4)
            try:
                staging.rename(target)
            except OSError:  # made meanwhile by another process: use that one
                shutil.rmtree(staging, ignore_errors=True)
        return str(target)

    def get_mutable_local_copy(self, target_folder: str | Path, overwrite: bool = False,
                               part: int | None = None, num_parts: int | None = None,
                               raise_on_error: bool = True, max_workers: int | None = None,
                               show_progress: bool = True) -> str | None:
        """A writable copy of the files in ``target_folder``. A folder with files in it is
        refused unless ``overwrite`` (then the dataset's files are written over the files of
        the same name; other files stay)."""
        try:
            target = Path(target_folder).expanduser()
            if target.exists() and not target.is_dir():
                raise InvalidInput(f"{target} is not a folder")
            if target.is_dir() and any(target.iterdir()) and not overwrite:
                raise Conflict(f"{target} is not empty; pass overwrite=True to write the "
                               "dataset's files into it")
            if self._pending() is not None:
                raise Conflict(f"dataset version {self.id} has changes that were not "
                               "uploaded; upload() first")
            entries = self._manifest()
            cache = self._cache()
            try:
                local = cache.find_many(entries)
            finally:
                cache.close()
            with ProgressBar(show_progress) as bar:
                materialize(self._session, entries, target,
                            reuse=lambda e: (local.get(e["hash"]) or (None, None))[1],
                            link=False, fetch_external=_fetch_external, progress=bar.phase,
                            advance=bar.advance, workers=max_workers or 4)
            return str(target)
        except Exception:
            if raise_on_error:
                raise
            return None


def _fetch_external(entry: Entry) -> Path:
    from arno.sdk._storage import StorageManager

    return Path(StorageManager.get_local_copy(str(entry["uri"])))


def forget_local(version_id: str) -> None:
    cfg = _context.config()
    (cfg.home / "datasets" / "drafts" / f"{version_id}.json").unlink(missing_ok=True)
    _rmtree(cfg.home / "datasets" / "partial" / version_id)
    if (cfg.home / "datasets" / "index.sqlite").exists():
        cache = DatasetCache(cfg.home / "datasets", cfg.dataset_cache_limit)
        try:
            cache.remove(version_id)
        finally:
            cache.close()

"""Artifacts as the SDK sees them: upload (at once, or queued behind the background sender),
lazy download with a local cache, and registered DataFrames watched for changes."""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from arno.core.errors import InvalidInput
from arno.core.files import safe_file_name
from arno.sdk import _codecs
from arno.sdk._context import home

if TYPE_CHECKING:
    from arno.client import Reporter

log = logging.getLogger("arno.artifacts")


def cache_path(hash_: str) -> Path:
    return home() / "cache" / "blobs" / hash_[:2] / hash_


def fetch_blob(session: Any, hash_: str) -> Path:
    """A verified local copy of a blob, downloaded once and reused."""
    if not re.fullmatch(r"[0-9a-f]{64}", hash_ or ""):
        raise InvalidInput(f"not a content hash: {hash_!r}")
    target = cache_path(hash_)
    if not target.exists():
        session.download_blob(hash_, target)
    return target


class Artifact:
    """A stored artifact: ``get()`` returns the object, ``get_local_copy()`` a file path."""

    def __init__(self, session: Any, info: dict[str, Any]) -> None:
        self._session = session
        self._info = info

    name = property(lambda self: self._info["name"])
    type = property(lambda self: self._info["type"])
    size = property(lambda self: self._info["size"])
    hash = property(lambda self: self._info["hash"])
    url = property(lambda self: self._info["uri"])
    preview = property(lambda self: self._info["preview"])
    metadata = property(lambda self: self._info.get("metadata", {}))
    file_name = property(lambda self: self._info.get("file_name", ""))
    mode = property(lambda self: self._info.get("mode", "output"))

    def __repr__(self) -> str:
        return f"Artifact(name={self.name!r}, type={self.type!r}, size={self.size})"

    def get_local_copy(
        self,
        extract_archive: bool = True,
        raise_on_error: bool = True,
        force_download: bool = False,
    ) -> str | None:
        """Path of a local copy (a folder artifact is extracted unless ``extract_archive`` is
        False). Repeated calls reuse the cached copy."""
        try:
            if not self.hash:
                raise InvalidInput(f"artifact {self.name!r} has no stored content")
            if force_download:
                cache_path(self.hash).unlink(missing_ok=True)
            blob = fetch_blob(self._session, self.hash)
            named = blob.parent / f"{self.hash}.d" / safe_file_name(self.file_name or self.name)
            if not named.exists():
                named.parent.mkdir(parents=True, exist_ok=True)
                try:
                    named.hardlink_to(blob)
                except OSError:
                    shutil.copyfile(blob, named)
            if self.type == "folder" and extract_archive:
                return str(_codecs.decode_artifact(named, "folder"))
            return str(named)
        except Exception:
            if raise_on_error:
                raise
            return None

    def get(self, force_download: bool = False, deserialization_function: Any = None,
            allow_pickle: bool = False) -> Any:
        """The artifact as an object: numpy array, DataFrame, PIL image, dict, text, a local
        path for files and folders. Pickles load only with ``allow_pickle=True``."""
        local = self.get_local_copy(extract_archive=False, force_download=force_download)
        assert local is not None
        if deserialization_function is not None:
            return deserialization_function(Path(local).read_bytes())
        return _codecs.decode_artifact(
            Path(local), self.type, allow_pickle=allow_pickle, metadata=self.metadata
        )


def check_name(name: Any) -> str:
    """An artifact name the server will take (checked before anything is queued)."""
    text = name if isinstance(name, str) else str(name)
    if not text or len(text) > 256 or "/" in text or any(ord(c) < 32 for c in text):
        raise InvalidInput(f"artifact name must be 1 to 256 characters with no '/' or control "
                           f"characters, got {text[:40]!r}")
    return text


def upload_artifact(
    session: Any,
    task_id: str,
    name: str,
    obj: Any,
    *,
    metadata: dict[str, Any] | None = None,
    preview: str | None = None,
    auto_pickle: bool = True,
    mode: str = "output",
    reporter: Reporter | None = None,
    wait_on_upload: bool = True,
    delete_after_upload: bool = False,
) -> dict[str, Any]:
    """Store ``obj`` as the task's artifact ``name`` and return its record.

    With a ``reporter`` and ``wait_on_upload=False`` nothing waits on the network: the object
    is encoded, its file moved into the reporter's spool folder and the record queued behind
    it; the background sender uploads both in order (later, if the server is away) and the
    record returned is the one that will be sent (no size or creation time yet). Otherwise
    the upload happens here and errors raise. ``delete_after_upload`` removes a file given
    by path once its bytes are safe (uploaded, or in the spool)."""
    name = check_name(name)
    try:
        json.dumps(metadata or {})
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"artifact metadata must be JSON: {exc}") from exc
    queued = reporter is not None and not wait_on_upload
    work = Path(tempfile.mkdtemp(prefix=".arno-artifact-", dir=_work_root(reporter)))
    try:
        enc = _codecs.encode_artifact(obj, name=name, work_dir=work,
                                      allow_pickle_fallback=auto_pickle)
        body: dict[str, Any] = {
            "type": enc.type,
            "mode": mode,
            "file_name": enc.file_name,
            "content_type": enc.content_type,
            "preview": (preview if preview is not None else enc.preview)[:65536],
            "metadata": {**enc.metadata, **(metadata or {})},
        }
        if queued:
            assert reporter is not None
            body["hash"], _size = reporter.blob(path=enc.path, move=True)
            reporter.request("PUT", f"tasks/{task_id}/artifacts/{name}", body)
            info: dict[str, Any] = {"task_id": task_id, "name": name, **body,
                                    "uri": f"arno://blobs/{body['hash']}"}
        else:
            body["hash"], _size = session.upload_file(enc.path)
            info = session.put(f"tasks/{task_id}/artifacts/{name}", body)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if delete_after_upload and isinstance(obj, str | PurePath) and Path(obj).is_file():
        Path(obj).unlink()
    return info


def _work_root(reporter: Reporter | None) -> Path | None:
    """Encode beside the spool (same file system: the file moves in without a copy). The
    folder's name starts with a dot, which no spool deliverer takes for a task's folder."""
    if reporter is None:
        return None
    root = reporter.spool.dir.parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


# ---- registered artifacts ----------------------------------------------------------------------
class _Registered:
    __slots__ = ("frame", "metadata", "columns", "digest")

    def __init__(self, frame: Any, metadata: dict[str, Any], columns: list[Any]) -> None:
        self.frame = frame
        self.metadata = metadata
        self.columns = columns
        self.digest: str | None = None  # of the version last queued


def frame_digest(frame: Any) -> str:
    """A hash of a DataFrame's content: values, index, column names and types."""
    from blake3 import blake3

    h = blake3()
    h.update(repr((list(map(str, frame.columns)), list(map(str, frame.dtypes)))).encode())
    try:
        import pandas as pd

        h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    except (TypeError, ValueError):  # cells pandas cannot hash (lists, dicts): their text
        h.update(frame.to_csv().encode("utf-8", "replace"))
    return h.hexdigest()


class ArtifactRegistry:
    """DataFrames registered as artifacts (``Task.register_artifact``): a background thread
    looks at each every ``interval`` seconds and, when its content changed, uploads it again
    (with its metadata and preview) through the reporter, so the script never waits. Call
    :meth:`sync` to look now and :meth:`close` for a last look when the task ends."""

    def __init__(self, session: Any, reporter: Reporter, task_id: str, *,
                 interval: float = 5.0) -> None:
        self._session = session
        self._reporter = reporter
        self._task_id = task_id
        self.interval = interval
        self._items: dict[str, _Registered] = {}
        self._lock = threading.Lock()
        self._syncing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.uploads = 0
        """Versions queued for upload so far."""

    def register(self, name: str, artifact: Any, metadata: dict[str, Any] | None = None,
                 uniqueness_columns: bool | Sequence[Any] = True) -> None:
        """Watch ``artifact`` (a pandas DataFrame) as the artifact ``name``. The metadata
        records how many rows are unique over ``uniqueness_columns`` (True: all columns;
        False: not counted)."""
        name = check_name(name)
        if not (hasattr(artifact, "columns") and hasattr(artifact, "iloc")
                and type(artifact).__module__.startswith("pandas")):
            raise InvalidInput(f"register_artifact watches pandas DataFrames, not "
                               f"{type(artifact).__name__}; use upload_artifact for it")
        if uniqueness_columns is True:
            columns = list(artifact.columns)
        elif not uniqueness_columns:
            columns = []
        else:
            columns = list(uniqueness_columns)
            missing = [c for c in columns if c not in artifact.columns]
            if missing:
                raise InvalidInput(f"uniqueness_columns not in the frame: {missing}")
        try:
            json.dumps(metadata or {})
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"artifact metadata must be JSON: {exc}") from exc
        with self._lock:
            self._items[name] = _Registered(artifact, dict(metadata or {}), columns)
        self._start()
        self._wake.set()  # first version soon, not after a whole interval

    def unregister(self, name: str) -> None:
        """Stop watching ``name`` (what was uploaded stays). Unknown names are ignored."""
        with self._lock:
            self._items.pop(name, None)

    def registered(self) -> dict[str, Any]:
        """Name -> the DataFrame being watched."""
        with self._lock:
            return {name: item.frame for name, item in self._items.items()}

    def sync(self) -> int:
        """Queue a new version of every frame whose content changed; returns how many."""
        queued = 0
        with self._syncing:
            with self._lock:
                items = list(self._items.items())
            for name, item in items:
                try:
                    digest = frame_digest(item.frame)
                    if digest == item.digest:
                        continue
                    meta = dict(item.metadata)
                    if item.columns:
                        rows = len(item.frame)
                        dup = int(item.frame.duplicated(subset=item.columns).sum())
                        meta.update(uniqueness_columns=[str(c) for c in item.columns],
                                    unique_rows=rows - dup)
                    upload_artifact(self._session, self._task_id, name, item.frame,
                                    metadata=meta, reporter=self._reporter,
                                    wait_on_upload=False)
                except Exception:  # noqa: BLE001 - one bad frame never stops the others
                    log.warning("arno: could not upload registered artifact %r", name,
                                exc_info=True)
                    continue
                with self._lock:
                    if self._items.get(name) is item:
                        item.digest = digest
                queued += 1
                self.uploads += 1
        return queued

    def close(self) -> None:
        """Stop watching, after a last look at every frame."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sync()

    def _start(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="arno-artifact-watch",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.sync()

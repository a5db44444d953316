"""Artifacts as the SDK sees them: upload, and lazy download with a local cache."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from arno.core.errors import InvalidInput
from arno.core.files import safe_file_name
from arno.sdk import _codecs
from arno.sdk._context import home


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
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="arno-artifact-"))
    try:
        enc = _codecs.encode_artifact(obj, name=name, work_dir=work,
                                      allow_pickle_fallback=auto_pickle)
        hash_, _size = session.upload_file(enc.path)
        body = {
            "type": enc.type,
            "mode": mode,
            "file_name": enc.file_name,
            "content_type": enc.content_type,
            "hash": hash_,
            "preview": (preview if preview is not None else enc.preview)[:65536],
            "metadata": {**enc.metadata, **(metadata or {})},
        }
        info: dict[str, Any] = session.put(f"tasks/{task_id}/artifacts/{name}", body)
        return info
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""Dataset versions made offline, imported later (ClearML's ``Dataset.set_offline``,
``is_offline``, ``get_offline_mode_folder``, ``import_offline_session``).

Offline, ``Dataset.create`` makes a draft in a folder ``$ARNO_HOME/offline/datasets/<id>``;
``add_files``, ``add_external_files``, ``remove_files``, ``sync_folder`` work as online, and
``upload`` (or ``finalize(auto_upload=True)``) copies the added files' bytes into the folder.
The folder has the layout of an offline task package (``meta.json``, ``task.json``,
``blobs/<BLAKE3>``), so the same checked reader opens it (or a zip of it) on import; its
``meta.json`` names the dataset format, so neither import takes the other's package.

An offline version has no parents: their files cannot be read without the server.
"""

from __future__ import annotations

import json
import os
import shutil
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arno.client._dataset_files import EMPTY_HASH, Entry, LocalFile, check_path, hash_files
from arno.client._offline_package import PackageLimits, open_package
from arno.core.errors import InvalidInput, NotFound
from arno.core.ids import new_id
from arno.sdk import _context

if TYPE_CHECKING:
    from arno.sdk._dataset import Dataset
    from arno.sdk._dataset_state import Working

FORMAT = "arno-offline-dataset/1"
_offline_mode = False
_importing: ContextVar[bool] = ContextVar("arno_dataset_importing", default=False)


def active() -> bool:
    """Whether a new ``Dataset.create`` is recorded offline (never while importing one)."""
    return not _importing.get() and (_offline_mode or _context.config().offline)


class DatasetOffline:
    """The offline half of ``Dataset``."""

    _session: Any

    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Record the versions made from now on (``Dataset.create``) in a local folder instead
        of on the server; ``ARNO_OFFLINE=1`` does the same for a whole process."""
        global _offline_mode
        _offline_mode = bool(offline_mode)

    @classmethod
    def is_offline(cls) -> bool:
        return active()

    def get_offline_mode_folder(self) -> Path | None:
        """The folder this offline version is recorded in (None for a version on a server):
        pass it, or a zip of it, to :meth:`import_offline_session`."""
        return Path(self._session.root) if getattr(self._session, "offline", False) else None

    @classmethod
    def import_offline_session(cls, session_folder_zip: str | Path, upload: bool = True,
                               finalize: bool = False) -> str:
        """Make a version recorded offline (its folder or a zip of it) on the server; return
        its id. ``upload`` sends its files (else they stay a local draft, as after
        ``add_files``); ``finalize`` closes it (uploading first). The package is checked
        whole before anything is sent."""
        token = _importing.set(True)
        try:
            return import_session(cls, session_folder_zip, upload, finalize)  # type: ignore[arg-type]
        finally:
            _importing.reset(token)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
    os.replace(tmp, path)


class OfflineDatasetSession:
    """Answers what a ``Dataset`` asks while offline, and keeps the version in ``root``."""

    offline = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = f"offline:{root}"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / "blobs").mkdir(mode=0o700, exist_ok=True)
        _write_json(root / "meta.json", {"format": FORMAT})
        self.info: dict[str, Any] = {}
        self.requested_version: str | None = None
        self.files: list[Entry] = []

    def _save(self) -> None:
        i = self.info
        _write_json(self.root / "task.json", {
            "id": i["id"], "name": i["name"], "project": i["project"], "tags": i["tags"],
            "version": self.requested_version, "description": i["description"],
            "files": self.files})

    @property
    def _vid(self) -> str:
        return f"datasets/{self.info.get('id')}"

    # ---- the requests a Dataset makes ------------------------------------------------------
    def post(self, path: str, body: Any = None, *, retry: bool | None = None) -> Any:
        if path == "datasets" and not self.info:
            if body.get("parents"):  # pragma: no cover - Dataset.create refuses them first
                raise InvalidInput("an offline dataset version cannot have parents")
            self.requested_version = body.get("version")
            self.info = {
                "id": self.root.name, "dataset_id": None, "name": body["name"],
                "project": body["project"], "version": self.requested_version or "1.0.0",
                "state": "draft", "parents": [], "tags": list(body.get("tags") or []),
                "description": body.get("description") or "", "manifest_hash": None,
                "stats": {}, "offline": True,
            }
            self._save()
            return dict(self.info)
        if path == f"{self._vid}/finalize":
            if not self.files:
                raise InvalidInput(f"offline dataset version {self.info['id']} has nothing to "
                                   "finalize: upload() its files first")
            self.info["state"] = "final"
            return dict(self.info)
        raise InvalidInput(f"{path} is not available offline")

    def get(self, path: str, **params: Any) -> Any:
        if path == self._vid:
            return dict(self.info)
        if path == f"{self._vid}/manifest":
            return {"files": list(self.files)}
        raise NotFound(f"{path} is not available offline")

    def patch(self, path: str, body: Any) -> Any:
        if path == f"{self._vid}/dataset" and set(body) == {"version"}:
            self.requested_version = self.info["version"] = str(body["version"])
            self._save()
            return dict(self.info)
        if path == f"tasks/{self.info.get('id')}":
            if "tags" in body:
                self.info["tags"] = [t for t in body["tags"] if t != "dataset"]
            if "comment" in body:
                self.info["description"] = body["comment"]
            self._save()
            return dict(self.info)
        raise InvalidInput(f"{path} is not available offline")

    def delete(self, path: str, **params: Any) -> None:
        raise InvalidInput(f"{path} is not available offline")

    def keep(self, state: Working) -> None:
        """What ``upload`` does offline: copy the added files' bytes into the folder and record
        the version's files."""
        blobs = self.root / "blobs"
        for entry in state.entries():
            if entry.get("uri"):
                continue
            dest = blobs / entry["hash"]
            if dest.exists():
                continue
            tmp = blobs / f".{new_id()}"
            src = state.sources.get(entry["path"])
            if src is not None:
                shutil.copyfile(src["source"], tmp)
            elif entry["hash"] == EMPTY_HASH:
                tmp.write_bytes(b"")
            else:  # pragma: no cover - offline, every stored file was added here
                raise InvalidInput(f"{entry['path']}: its bytes are not in this offline session")
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        self.files = state.entries()
        self._save()


def new_session() -> OfflineDatasetSession:
    return OfflineDatasetSession(_context.home() / "offline" / "datasets" / new_id())


# ---- importing ----------------------------------------------------------------------------------
class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str = Field(min_length=1, max_length=4096)
    size: int = Field(ge=0)
    hash: str = Field(pattern=r"^([0-9a-f]{64})?$")
    uri: str | None = Field(default=None, max_length=8192)


class _Recorded(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=512)
    project: str = Field(min_length=1, max_length=512)
    tags: list[str] = Field(default_factory=list, max_length=1000)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    description: str = Field(default="", max_length=1 << 20)
    files: list[_File] = Field(max_length=10_000_000)


def _read(source: Path, path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidInput(f"{source.name}: {path.name} cannot be read; nothing was "
                           "imported") from None


def read_package(source: Path, workdir: Path) -> tuple[_Recorded, list[LocalFile]]:
    """The recorded version and its stored files (dataset path -> checked blob), or
    InvalidInput before anything is sent."""
    package = open_package(source, workdir, PackageLimits())
    root = package.root
    meta = _read(source, root / "meta.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InvalidInput(f"{source} is not an Arno offline dataset "
                           f"(format {meta.get('format') if isinstance(meta, dict) else None!r})")
    try:
        rec = _Recorded.model_validate(_read(source, root / "task.json"))
    except ValidationError as exc:
        raise InvalidInput(f"{source.name}: task.json is not an offline dataset version "
                           f"({exc.errors()[0]['msg']}); nothing was imported") from None
    stored: list[LocalFile] = []
    for f in rec.files:
        check_path(f.path)
        if f.uri:
            continue
        blob = package.blobs.get(f.hash)
        if blob is None and f.hash == EMPTY_HASH and f.size == 0:
            continue
        if blob is None:
            raise InvalidInput(f"{source.name}: the bytes of {f.path!r} are not in the package; "
                               "nothing was imported")
        st = blob.stat()
        if st.st_size != f.size:
            raise InvalidInput(f"{source.name}: {f.path!r} is {st.st_size} bytes, not {f.size}")
        stored.append(LocalFile(path=f.path, source=str(blob), size=f.size,
                                mtime_ns=st.st_mtime_ns))
    return rec, stored


def import_session(cls: type[Dataset], session_folder_zip: str | Path, upload: bool,
                   finalize: bool) -> str:
    source = Path(session_folder_zip)
    if not source.exists():
        raise NotFound(f"no offline dataset session at {session_folder_zip}")
    workdir = _context.home() / "offline" / "imports" / new_id()
    keep = False  # a draft not uploaded reads its files from here
    try:
        rec, stored = read_package(source, workdir)
        hashed = hash_files(stored)
        links = [{"path": f.path, "size": f.size, "hash": f.hash, "pieces": [], "uri": f.uri}
                 for f in rec.files if f.uri]
        empty = [{"path": f.path, "size": 0, "hash": EMPTY_HASH, "pieces": []}
                 for f in rec.files if not f.uri and f.size == 0 and f.hash == EMPTY_HASH
                 and not any(s.path == f.path for s in stored)]
        ds = cls.create(dataset_name=rec.name, dataset_project=rec.project,
                        dataset_tags=rec.tags, dataset_version=rec.version,
                        description=rec.description)
        state = ds._state()
        state.add(hashed)
        state.link([*links, *empty])
        ds._changed(0)
        if upload or finalize:
            ds.upload(show_progress=False)
        if finalize:
            ds.finalize()
        keep = not (upload or finalize)
        return str(ds.id)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

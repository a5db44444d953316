"""Building dataset versions over HTTP the way a client does: files cut into pieces, pieces
packed with ``arno.core.packs.PackWriter``, packs uploaded, manifest PUT, finalize."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy import update
from tests.conftest import LiveServer

from arno.blobstore import hash_bytes
from arno.core.ids import utcnow
from arno.core.packs import PackWriter
from arno.db.models import DatasetPackRow

API = "/api/v1"
PIECE = 64 * 1024
"""Tests cut files bigger than this into fixed pieces (the server does not care how)."""


@dataclass
class Pack:
    hash: str
    data: bytes
    pieces: list[str]


@dataclass
class Content:
    """Files as a manifest lists them, and the pack holding the pieces they need."""

    files: list[dict] = field(default_factory=list)
    pack: Pack | None = None

    def by_path(self) -> dict[str, dict]:
        return {f["path"]: f for f in self.files}


def file_entry(path: str, data: bytes, writer: PackWriter | None = None) -> dict:
    pieces = [hash_bytes(data[i:i + PIECE]) for i in range(0, len(data), PIECE)]
    if writer is not None:
        for i in range(0, len(data), PIECE):
            writer.add(hash_bytes(data[i:i + PIECE]), data[i:i + PIECE])
    return {"path": path, "size": len(data), "hash": hash_bytes(data), "pieces": pieces}


def build(files: dict[str, bytes]) -> Content:
    """Manifest entries for ``files`` and one pack with all their pieces."""
    writer = PackWriter()
    entries = [file_entry(path, data, writer) for path, data in files.items()]
    if not len(writer):
        return Content(entries, None)
    h, data, members = writer.finish()
    return Content(entries, Pack(h, data, [m.hash for m in members]))


def upload(c: httpx.Client, pack: Pack | None) -> None:
    if pack is None:
        return
    resp = c.put(f"{API}/datasets/packs/{pack.hash}", content=pack.data)
    assert resp.status_code == 200, resp.text


def create(c: httpx.Client, name: str, project: str = "datasets", **body) -> dict:
    resp = c.post(f"{API}/datasets", json={"name": name, "project": project, **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def put_manifest(c: httpx.Client, vid: str, files: list[dict]) -> dict:
    resp = c.put(f"{API}/datasets/{vid}/manifest", json={"files": files})
    assert resp.status_code == 200, resp.text
    return resp.json()


def finalize(c: httpx.Client, vid: str) -> dict:
    resp = c.post(f"{API}/datasets/{vid}/finalize")
    assert resp.status_code == 200, resp.text
    return resp.json()


def publish(c: httpx.Client, name: str, files: list[dict], pack: Pack | None = None, *,
            parents: list[str] = (), project: str = "datasets", **body) -> dict:
    """A final version with exactly ``files``."""
    version = create(c, name, project, parents=list(parents), **body)
    upload(c, pack)
    put_manifest(c, version["id"], files)
    return finalize(c, version["id"])


def unique(prefix: str = "ds") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def manifest(c: httpx.Client, vid: str) -> dict[str, dict]:
    resp = c.get(f"{API}/datasets/{vid}/manifest")
    assert resp.status_code == 200, resp.text
    return {f["path"]: f for f in resp.json()["files"]}


def missing(c: httpx.Client, hashes: list[str]) -> list[str]:
    resp = c.post(f"{API}/datasets/pieces/missing", json={"hashes": hashes})
    assert resp.status_code == 200, resp.text
    return resp.json()["missing"]


def age_packs(server: LiveServer, hashes: list[str], seconds: float = 7200) -> None:
    """Make packs look uploaded ``seconds`` ago (past the grace period)."""
    with server.services.db.write() as s:
        s.execute(update(DatasetPackRow).where(DatasetPackRow.hash.in_(hashes))
                  .values(created_at=utcnow() - timedelta(seconds=seconds)))


def pack_stored(server: LiveServer, h: str) -> bool:
    with server.services.db.read() as s:
        row = s.get(DatasetPackRow, h)
    return row is not None and server.services.store.exists(h)

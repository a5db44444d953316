"""Blobs through the server: HEAD/PUT/GET round trip, refused uploads that store nothing,
hashes that try to be paths; then the same with the server storing in S3 (moto's server on
loopback, a real S3 HTTP API) and an artifact uploaded and read back with the SDK."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import httpx
import numpy as np
import pytest
from moto.server import ThreadedMotoServer
from tests.conftest import LiveServer, free_port, start_server

from arno.blobstore import hash_bytes

API = "/api/v1"


def _stored_files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _round_trip(c: httpx.Client, data: bytes) -> str:
    h = hash_bytes(data)
    assert c.head(f"{API}/blobs/{h}").status_code == 404
    put = c.put(f"{API}/blobs/{h}", content=data)
    assert put.status_code == 200, put.text
    assert put.json() == {"hash": h, "size": len(data)}
    head = c.head(f"{API}/blobs/{h}")
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(data)
    got = c.get(f"{API}/blobs/{h}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-arno-hash"] == h
    # putting it again is a cheap no-op with the same answer
    again = c.put(f"{API}/blobs/{h}", content=data)
    assert again.status_code == 200 and again.json() == {"hash": h, "size": len(data)}
    return h


def test_blob_round_trip(server):
    data = os.urandom(300_000) + b"tail"
    with server.client() as c:
        h = _round_trip(c, data)
    assert h in _stored_files(server.home / "files")


def test_empty_blob_round_trip(server):
    with server.client() as c:
        _round_trip(c, b"")


def test_streamed_upload_without_length(server):
    data = os.urandom(200_000)
    h = hash_bytes(data)
    with server.client() as c:
        resp = c.put(f"{API}/blobs/{h}",
                     content=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]))
        assert resp.status_code == 200, resp.text
        assert c.get(f"{API}/blobs/{h}").content == data


def test_wrong_hash_is_refused_and_nothing_is_stored(server):
    data = os.urandom(100_000)
    actual = hash_bytes(data)
    claimed = hash_bytes(b"something else entirely")
    files = server.home / "files"
    before = _stored_files(files)
    with server.client() as c:
        resp = c.put(f"{API}/blobs/{claimed}", content=data)
        assert resp.status_code == 422, resp.text
        err = resp.json()["error"]
        assert err["code"] == "invalid_input"
        assert err["details"] == {"expected": claimed, "actual": actual}
        assert c.head(f"{API}/blobs/{claimed}").status_code == 404
        assert c.head(f"{API}/blobs/{actual}").status_code == 404
        assert c.get(f"{API}/blobs/{claimed}").status_code == 404
    assert _stored_files(files) == before
    assert _stored_files(server.home / "tmp") == set()  # no upload left half-way


def test_artifact_needs_a_stored_blob(server):
    with server.client() as c:
        task = c.post(f"{API}/tasks", json={"project": "blobs", "name": "art"}).json()
        missing = hash_bytes(b"never uploaded")
        resp = c.put(f"{API}/tasks/{task['id']}/artifacts/model", json={"hash": missing})
        assert resp.status_code == 404
        assert c.get(f"{API}/tasks/{task['id']}/artifacts").json() == []
        data = b"weights"
        h = _round_trip(c, data)
        resp = c.put(f"{API}/tasks/{task['id']}/artifacts/model",
                     json={"hash": h, "file_name": "model.bin"})
        assert resp.status_code == 200
        assert resp.json()["size"] == len(data) and resp.json()["uri"] == f"arno://blobs/{h}"


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fconfig.toml",
        "..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2E%2E",
        "%2E%2E%2F" + "a" * 61,
        "..%5C..%5Cconfig.toml",
        "A" * 64,
        "a" * 63,
        "g" * 64,
        "a" * 65,
    ],
)
def test_hash_that_is_not_a_hash_is_refused(server, name):
    secret = server.home / "sentinel.txt"
    secret.write_text("do not serve me")
    before = _stored_files(server.home)
    with server.client() as c:
        for method in ("GET", "HEAD", "PUT"):
            url = httpx.URL(f"{server.url}{API}/blobs/{name}")
            resp = c.request(method, url, content=b"do not store me" if method == "PUT" else None)
            assert resp.status_code in (404, 422), (method, name, resp.status_code)
            assert b"do not serve me" not in resp.content
            if method != "HEAD":
                assert resp.json()["error"]["code"] in ("invalid_input", "not_found")
    assert _stored_files(server.home) == before


# ---- the same through a server that stores in S3 -------------------------------------------

BUCKET = "arno-test"


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        yield {"endpoint_url": f"http://127.0.0.1:{port}", "key": "testing",
               "secret": "testing", "client_kwargs": {"region_name": "us-east-1"}}
    finally:
        moto.stop()


@pytest.fixture(scope="module")
def s3_server(s3_options, tmp_path_factory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("s3-server-home")
    yield from start_server(home, None, "sqlite", storage_url=f"s3://{BUCKET}/blobs",
                            storage_options=s3_options)


def _bucket_keys(s3_options: dict) -> list[str]:
    fs = fsspec.filesystem("s3", use_listings_cache=False, skip_instance_cache=True,
                           **s3_options)
    return fs.find(BUCKET)


def test_s3_blob_round_trip(s3_server, s3_options):
    data = os.urandom(200_000)
    with s3_server.client() as c:
        h = _round_trip(c, data)
        wrong = c.put(f"{API}/blobs/{hash_bytes(b'other')}", content=b"not other")
        assert wrong.status_code == 422
    keys = _bucket_keys(s3_options)
    assert [k for k in keys if k.endswith(h)], keys
    assert not [k for k in keys if k.endswith(hash_bytes(b"other"))]
    assert not [k for k in keys if k.endswith(hash_bytes(b"not other"))]
    assert _stored_files(s3_server.home / "files") == set()


def test_s3_artifact_with_the_sdk(s3_server, s3_options, tmp_path, monkeypatch):
    from arno import Task
    from arno.sdk import set_session

    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "writer-home"))
    monkeypatch.setenv("ARNO_API_HOST", s3_server.url)
    monkeypatch.setenv("ARNO_API_KEY", s3_server.admin_key)
    monkeypatch.setenv("ARNO_API_SECRET", s3_server.admin_secret)
    monkeypatch.delenv("ARNO_OFFLINE", raising=False)
    monkeypatch.delenv("ARNO_TASK_ID", raising=False)
    set_session(None)
    features = np.arange(20_000, dtype=np.float64).reshape(100, 200)
    try:
        task = Task.init(project_name="s3/tour", task_name=f"s3 {uuid.uuid4().hex[:6]}",
                         auto_resource_monitoring=False, auto_connect_arg_parser=False)
        task.upload_artifact("features", artifact_object=features)
        task.upload_artifact("settings", artifact_object={"lr": 0.1, "layers": [64, 32]})
        assert task.flush(wait_for_uploads=True)
        task_id = task.id
        task.close()

        # a reader elsewhere: nothing cached locally, every byte comes back through S3
        monkeypatch.setenv("ARNO_HOME", str(tmp_path / "reader-home"))
        set_session(None)
        again = Task.get_task(task_id=task_id)
        artifacts = again.artifacts
        assert np.array_equal(artifacts["features"].get(), features)
        assert artifacts["settings"].get() == {"lr": 0.1, "layers": [64, 32]}
        stored = artifacts["features"].hash
    finally:
        current = Task.current_task()
        if current is not None:
            current.close()
        set_session(None)
    assert [k for k in _bucket_keys(s3_options) if k.endswith(stored)]
    assert _stored_files(s3_server.home / "files") == set()

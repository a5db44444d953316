"""Blob store backends for the contract tests: a local directory and S3 served by moto."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest
from moto.server import ThreadedMotoServer

from arno.blobstore import BlobStore


@dataclass
class Backend:
    """Where a test's store lives, and an fsspec handle to tamper with it directly."""

    name: str
    url: str
    options: dict[str, Any]
    fs: Any
    root: str

    def key(self, h: str) -> str:
        return f"{self.root}/blobs/{h[:2]}/{h[2:4]}/{h}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        root = str(tmp_path / "store")
        return Backend("local", root, {}, fsspec.filesystem("file"), root)
    endpoint = request.getfixturevalue("s3_endpoint")
    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }
    bucket = f"arno-{uuid.uuid4().hex[:12]}"  # a fresh bucket: the store must create it
    fs = fsspec.filesystem("s3", use_listings_cache=False, **options)
    return Backend("s3", f"s3://{bucket}/blobs-root", options, fs, f"{bucket}/blobs-root")


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> BlobStore:
    return BlobStore(
        backend.url, options=backend.options, tmp_dir=tmp_path / "uploads", retry_delay=0.01
    )

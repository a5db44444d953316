"""Artifacts of every kind a user uploads, read back through a live server; the local cache;
a blob corrupted in the server's storage; ``StorageManager`` with ``arno://`` URLs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from blake3 import blake3
from PIL import Image

from arno import StorageManager, Task
from arno.client import ApiSession
from arno.core.errors import Forbidden, IntegrityError, NotFound
from arno.sdk import _context


@dataclass
class Checkpoint:  # a user's own class: stored as a pickle
    step: int
    weights: list[float]


def blob_gets(session: ApiSession) -> list[str]:
    """Record every blob download the SDK's session makes from now on (a transport wrapped
    around the session's own)."""
    seen: list[str] = []
    inner = session.http

    class Recording:
        def request(self, method, url, **kwargs):
            if method == "GET" and "/api/v1/blobs/" in url:
                seen.append(url.split("?")[0])
            return inner.request(method, url, **kwargs)

        def stream(self, method, url, **kwargs):
            if method == "GET" and "/api/v1/blobs/" in url:
                seen.append(url.split("?")[0])
            return inner.stream(method, url, **kwargs)

        def close(self):
            inner.close()

    session.http = Recording()
    return seen


@pytest.fixture
def task(sdk):
    t = Task.init(
        project_name="artifacts/types",
        task_name="every kind",
        auto_connect_streams=False,
        auto_resource_monitoring=False,
    )
    yield t
    t.close()


def test_every_artifact_type_comes_back_equal(task, tmp_path):
    rng = np.random.default_rng(7)
    array = rng.normal(size=(40, 3)).astype(np.float32)
    frame = pd.DataFrame(
        {"city": ["Lyon", "Oslo", "Kyiv"], "count": [3, 1, 4], "share": [0.5, 0.125, 0.375]},
        index=pd.Index([10, 20, 30], name="id"),
    )
    image = Image.fromarray(rng.integers(0, 255, size=(8, 16, 3), dtype=np.uint8))
    summary = {"best": {"epoch": 7, "loss": 0.125}, "tags": ["a", "b"], "done": True}
    data_file = tmp_path / "labels.csv"
    data_file.write_text("id,label\n1,cat\n2,dog\n")
    folder = tmp_path / "checkpoint"
    (folder / "shards").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 3}')
    (folder / "shards" / "part-0.bin").write_bytes(os.urandom(3000))
    text = "first line\nsecond line, ünïcödé ✓"
    custom = Checkpoint(step=12, weights=[0.25, -1.5])

    for name, obj in [
        ("array", array),
        ("frame", frame),
        ("image", image),
        ("summary", summary),
        ("labels", data_file),
        ("checkpoint", folder),
        ("notes", text),
        ("custom", custom),
    ]:
        assert task.upload_artifact(name, artifact_object=obj, wait_on_upload=True)

    again = Task.get_task(task_id=task.id)
    arts = again.artifacts
    assert {n: a.type for n, a in arts.items()} == {
        "array": "numpy",
        "frame": "pandas",
        "image": "image",
        "summary": "json",
        "labels": "file",
        "checkpoint": "folder",
        "notes": "text",
        "custom": "pickle",
    }

    got = arts["array"].get()
    assert got.dtype == np.float32 and np.array_equal(got, array)
    pd.testing.assert_frame_equal(arts["frame"].get(), frame)
    img = arts["image"].get()
    assert img.mode == "RGB" and img.size == (16, 8)
    assert np.array_equal(np.asarray(img), np.asarray(image))
    assert arts["summary"].get() == summary
    labels = Path(arts["labels"].get())
    assert labels.name == "labels.csv"
    assert labels.read_bytes() == data_file.read_bytes()
    restored = Path(arts["checkpoint"].get())
    assert restored.is_dir()
    assert sorted(
        p.relative_to(restored).as_posix() for p in restored.rglob("*") if p.is_file()
    ) == ["config.json", "shards/part-0.bin"]
    assert (restored / "shards" / "part-0.bin").read_bytes() == (
        folder / "shards" / "part-0.bin"
    ).read_bytes()
    assert arts["notes"].get() == text

    with pytest.raises(Forbidden, match="allow_pickle"):
        arts["custom"].get()
    assert arts["custom"].get(allow_pickle=True) == custom

    # sizes and hashes are the stored bytes' own
    local = Path(arts["labels"].get_local_copy())
    assert arts["labels"].size == local.stat().st_size
    assert arts["labels"].hash == blake3(local.read_bytes()).hexdigest()


def test_get_local_copy_downloads_once(task):
    payload = os.urandom(200_000)
    task.upload_artifact("blob", artifact_object=payload.hex(), wait_on_upload=True)
    gets = blob_gets(_context.session())
    art = Task.get_task(task_id=task.id).artifacts["blob"]

    first = Path(art.get_local_copy())
    mtime = first.stat().st_mtime_ns
    second = Path(art.get_local_copy())
    assert first == second
    assert second.read_text() == payload.hex()
    assert second.stat().st_mtime_ns == mtime
    assert art.get() == payload.hex()
    assert len(gets) == 1

    assert Path(art.get_local_copy(force_download=True)).read_text() == payload.hex()
    assert len(gets) == 2


def test_a_blob_corrupted_on_the_server_is_detected_and_nothing_is_kept(sdk, tmp_path):
    session = ApiSession(sdk.url, sdk.admin_key, sdk.admin_secret)
    data = os.urandom(100_000)
    hash_, size = session.upload_bytes(data)
    assert size == len(data)
    stored = sdk.services.store.local_path(hash_)
    assert stored is not None and stored.read_bytes() == data
    stored.chmod(0o644)
    stored.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # one flipped byte, same size

    dest_dir = tmp_path / "downloads"
    with pytest.raises(IntegrityError):
        session.download_blob(hash_, dest_dir / "model.bin")
    assert list(dest_dir.iterdir()) == []  # neither the file nor a partial download

    url = f"arno://blobs/{hash_}"
    with pytest.raises(IntegrityError):
        StorageManager.get_local_copy(url)
    cache = _context.home() / "cache"
    leftovers = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert leftovers == []
    session.close()


def test_storage_manager_upload_and_local_copy(sdk, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(300_000))
    url = StorageManager.upload_file(str(source))
    assert url == f"arno://blobs/{blake3(source.read_bytes()).hexdigest()}/weights.bin"
    assert StorageManager.upload_file(str(source)) == url  # same content, same address

    local = StorageManager.get_local_copy(url)
    assert Path(local).read_bytes() == source.read_bytes()
    assert Path(local).is_relative_to(Path(os.environ["ARNO_HOME"]))
    assert StorageManager.get_local_copy(url) == local

    assert StorageManager.get_local_copy(str(source)) == str(source)
    assert StorageManager.get_local_copy(source.as_uri()) == str(source)
    with pytest.raises(NotFound):
        StorageManager.get_local_copy(str(tmp_path / "missing.bin"))
    with pytest.raises(NotFound):
        StorageManager.get_local_copy("arno://blobs/" + "0" * 64)

"""Contract tests of the blob store, run against a local directory and S3 (moto)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from arno.blobstore import BlobInfo, BlobStore, Hasher, hash_bytes, hash_file
from arno.core.errors import (
    IntegrityError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServerUnavailable,
)

MB = 1024 * 1024


def leftovers(store: BlobStore) -> list[str]:
    """Temp files the store left behind (upload dir, and local staging dir)."""
    names = [p.name for p in store.tmp_dir.iterdir()]
    if store.is_local:
        names += [p.name for p in (Path(store.url) / "tmp").iterdir()]
    return names


class TestBlobStore:
    def test_bytes_round_trip(self, store: BlobStore, tmp_path: Path) -> None:
        data = b"hello arno\n" * 1000
        info = store.put_bytes(data)

        assert info == BlobInfo(hash_bytes(data), len(data))
        assert len(info.hash) == 64
        assert store.exists(info.hash)
        assert store.size(info.hash) == len(data)
        with store.open(info.hash) as f:
            assert f.read() == data
        assert b"".join(store.iter_chunks(info.hash, chunk_size=1000)) == data
        assert list(store.iter_hashes()) == [info.hash]
        assert store.used_bytes() == len(data)

        empty = store.put_bytes(b"")
        assert store.size(empty.hash) == 0
        assert b"".join(store.iter_chunks(empty.hash)) == b""

        # the helpers agree with each other
        path = tmp_path / "data.bin"
        path.write_bytes(data)
        hasher = Hasher()
        hasher.update(data[:7])
        hasher.update(data[7:])
        assert hash_file(path) == (info.hash, len(data)) == (hasher.hexdigest(), hasher.size)

    def test_large_file_streamed_round_trip(self, store: BlobStore, tmp_path: Path) -> None:
        src = tmp_path / "big.bin"
        src.write_bytes(os.urandom(20 * MB))
        h, size = hash_file(src)

        with src.open("rb") as f:
            info = store.put_stream(f, expected_hash=h)
        assert info == BlobInfo(h, size)
        assert store.size(h) == 20 * MB

        dest = tmp_path / "out" / "big.copy"
        assert store.get_file(h, dest) == info
        assert hash_file(dest) == (h, size)

        chunk_hasher = Hasher()
        for chunk in store.iter_chunks(h, chunk_size=3 * MB):
            assert len(chunk) <= 3 * MB
            chunk_hasher.update(chunk)
        assert chunk_hasher.hexdigest() == h
        assert leftovers(store) == []
        assert sorted(p.name for p in dest.parent.iterdir()) == ["big.copy"]

    def test_same_content_is_stored_once(self, store: BlobStore, tmp_path: Path) -> None:
        data = os.urandom(100_000)
        first = store.put_bytes(data)
        used = store.used_bytes()

        path = tmp_path / "same.bin"
        path.write_bytes(data)
        assert store.put_bytes(data) == first
        assert store.put_file(path) == first
        assert store.put_stream([data[:10], data[10:]]) == first

        assert list(store.iter_hashes()) == [first.hash]
        assert store.used_bytes() == used == len(data)
        assert leftovers(store) == []

    def test_expected_hash_mismatch_stores_nothing(self, store: BlobStore, tmp_path: Path) -> None:
        wrong = hash_bytes(b"something else")
        path = tmp_path / "a.bin"
        path.write_bytes(b"payload")

        with pytest.raises(IntegrityError):
            store.put_bytes(b"payload", expected_hash=wrong)
        with pytest.raises(IntegrityError):
            store.put_file(path, expected_hash=wrong)
        with pytest.raises(IntegrityError):
            store.put_stream([b"pay", b"load"], expected_hash=wrong)

        assert list(store.iter_hashes()) == []
        assert not store.exists(hash_bytes(b"payload"))
        assert leftovers(store) == []

    def test_upload_over_max_bytes_is_refused(self, store: BlobStore) -> None:
        sent = 0

        def chunks() -> Iterator[bytes]:
            nonlocal sent
            for _ in range(10):
                sent += 1
                yield b"x" * MB

        with pytest.raises(PayloadTooLarge):
            store.put_stream(chunks(), max_bytes=3 * MB)
        assert sent == 4  # stopped reading at the first chunk over the limit
        assert list(store.iter_hashes()) == []
        assert leftovers(store) == []

        exact = store.put_stream([b"x" * MB] * 3, max_bytes=3 * MB)
        assert exact.size == 3 * MB

    @pytest.mark.parametrize(
        "bad",
        ["../../etc/passwd", "", "0" * 63, "0" * 65, "A" * 64, "g" * 64, "0" * 64 + "\n"],
    )
    def test_malformed_hash_is_refused(self, store: BlobStore, tmp_path: Path, bad: str) -> None:
        dest = tmp_path / "dest"
        calls: list[Any] = [
            lambda: store.exists(bad),
            lambda: store.size(bad),
            lambda: store.open(bad),
            lambda: store.iter_chunks(bad),
            lambda: store.get_file(bad, dest),
            lambda: store.delete(bad),
            lambda: store.local_path(bad),
            lambda: store.put_bytes(b"x", expected_hash=bad),
            lambda: store.put_stream([b"x"], expected_hash=bad),
        ]
        for call in calls:
            with pytest.raises(InvalidInput):
                call()
        assert not dest.exists()
        assert list(store.iter_hashes()) == []

    def test_missing_blob_is_not_found(self, store: BlobStore, tmp_path: Path) -> None:
        h = hash_bytes(b"never stored")
        dest = tmp_path / "dest.bin"

        assert not store.exists(h)
        with pytest.raises(NotFound):
            store.size(h)
        with pytest.raises(NotFound):
            store.open(h)
        with pytest.raises(NotFound):
            store.iter_chunks(h)  # raised before iterating, so a server can still send 404
        with pytest.raises(NotFound):
            store.get_file(h, dest)
        assert not dest.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        store.delete(h)  # absent: no error

    def test_corrupted_blob_is_detected(
        self, store: BlobStore, backend: Any, tmp_path: Path
    ) -> None:
        data = os.urandom(2 * MB)
        info = store.put_bytes(data)
        backend.fs.pipe_file(backend.key(info.hash), b"\0" * len(data))

        with pytest.raises(IntegrityError):
            for _ in store.iter_chunks(info.hash):
                pass
        dest = tmp_path / "out" / "blob.bin"
        with pytest.raises(IntegrityError):
            store.get_file(info.hash, dest)
        assert list(dest.parent.iterdir()) == []  # neither the file nor a partial one
        assert b"".join(store.iter_chunks(info.hash, verify=False)) == b"\0" * len(data)

        # a truncated blob no longer looks stored, so putting it again repairs it
        backend.fs.pipe_file(backend.key(info.hash), data[:100])
        assert store.put_bytes(data) == info
        assert store.get_file(info.hash, dest) == info
        assert dest.read_bytes() == data

    def test_delete(self, store: BlobStore) -> None:
        keep = store.put_bytes(b"keep")
        gone = store.put_bytes(b"delete me")

        store.delete(gone.hash)
        assert not store.exists(gone.hash)
        assert list(store.iter_hashes()) == [keep.hash]
        assert store.used_bytes() == keep.size
        store.delete(gone.hash)
        with pytest.raises(NotFound):
            store.open(gone.hash)

    def test_concurrent_puts_of_same_content(self, store: BlobStore) -> None:
        data = os.urandom(3 * MB)
        barrier = threading.Barrier(8)

        def put(i: int) -> BlobInfo:
            barrier.wait()
            if i % 2:
                return store.put_bytes(data)
            return store.put_stream(data[j : j + MB] for j in range(0, len(data), MB))

        with ThreadPoolExecutor(8) as pool:
            infos = list(pool.map(put, range(8)))

        assert set(infos) == {BlobInfo(hash_bytes(data), len(data))}
        assert list(store.iter_hashes()) == [infos[0].hash]
        assert b"".join(store.iter_chunks(infos[0].hash)) == data
        assert leftovers(store) == []

    def test_local_path(self, store: BlobStore, backend: Any) -> None:
        info = store.put_bytes(b"served without copying")
        path = store.local_path(info.hash)
        if backend.name == "local":
            assert path is not None and path.read_bytes() == b"served without copying"
            with pytest.raises(NotFound):
                store.local_path(hash_bytes(b"absent"))
        else:
            assert path is None

    def test_remote_writes_retry_transient_failures(
        self, store: BlobStore, backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if backend.name == "local":
            pytest.skip("local writes are not retried")
        fs = store._backend.fs  # type: ignore[attr-defined]
        real_put = fs.put_file
        calls = 0

        def flaky(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls <= 2:
                raise ConnectionError("connection reset")
            return real_put(*args, **kwargs)

        monkeypatch.setattr(fs, "put_file", flaky)
        info = store.put_stream([b"survives two failures"])
        assert calls == 3
        assert b"".join(store.iter_chunks(info.hash)) == b"survives two failures"

        def down(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("endpoint down")

        monkeypatch.setattr(fs, "put_file", down)
        with pytest.raises(ServerUnavailable):
            store.put_stream([b"never arrives"])
        assert not store.exists(hash_bytes(b"never arrives"))
        assert leftovers(store) == []

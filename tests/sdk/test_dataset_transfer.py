"""What travels over the network: an interrupted upload resumes without resending what is
stored; local copies come from the cache (free the second time, hard links for content already
cached, only the difference for a child of a cached version); Range reads; the cache limit."""

from __future__ import annotations

import os
import random
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.dataset_trees import read_tree, write_tree

from arno import Dataset
from arno.sdk import _context, set_session


def project() -> str:
    return f"xfer/{uuid.uuid4().hex[:8]}"


class Traffic:
    """Every request the SDK's session sends from now on (method, path, body bytes, response
    bytes), recorded by a transport wrapped around the session's; ``cut_after`` makes the n-th
    pack upload fail once its answer arrived."""

    def __init__(self) -> None:
        session = _context.session()
        self.calls: list[tuple[str, str, int, int]] = []
        self.cut_after: int | None = None
        self._packs_put = 0
        self._inner = session.http
        session.http = self

    def request(self, method: str, url: str, *, content=None, **kwargs):
        sent = [0]
        if isinstance(content, bytes | bytearray | memoryview):
            sent[0] = len(content)
        elif content is not None:
            content = _counted(content, sent)
        response = self._inner.request(method, url, content=content, **kwargs)
        path = urlsplit(url).path
        self.calls.append((method, path, sent[0], len(response.content)))
        if method == "PUT" and "/datasets/packs/" in path:
            self._packs_put += 1
            if self.cut_after is not None and self._packs_put >= self.cut_after:
                raise ConnectionAbortedError("the network went away")
        return response

    @contextmanager
    def stream(self, method: str, url: str, **kwargs):
        with self._inner.stream(method, url, **kwargs) as response:
            counting = _Counting(response)
            try:
                yield counting
            finally:
                self.calls.append((method, urlsplit(url).path, 0, counting.received))

    def close(self) -> None:
        self._inner.close()

    def clear(self) -> None:
        self.calls.clear()

    def packs_put(self) -> list[str]:
        return [p for m, p, _, _ in self.calls if m == "PUT" and "/datasets/packs/" in p]

    def pack_bytes_fetched(self) -> int:
        return sum(n for m, p, _, n in self.calls if m == "GET" and "/datasets/packs/" in p)


def _counted(chunks, sent: list[int]):
    for chunk in chunks:
        sent[0] += len(chunk)
        yield chunk


class _Counting:
    def __init__(self, response) -> None:
        self._response = response
        self.received = 0

    def __getattr__(self, name: str):
        return getattr(self._response, name)

    def iter_bytes(self, chunk_size: int | None = None):
        for chunk in self._response.iter_bytes(chunk_size):
            self.received += len(chunk)
            yield chunk

    def read(self) -> bytes:
        data = self._response.read()
        self.received += len(data)
        return data


def test_an_interrupted_upload_resumes_without_resending_stored_packs(sdk, tmp_path):
    rng = random.Random(9)
    files = {f"part{i}.bin": rng.randbytes(900_000) for i in range(5)}  # ~1 pack each below
    data = write_tree(tmp_path / "data", files)
    ds = Dataset.create(dataset_name="resumable", dataset_project=project())
    ds.add_files(data)
    traffic = Traffic()
    traffic.cut_after = 2
    with pytest.raises(ConnectionAbortedError):
        ds.upload(chunk_size=1, max_workers=1)
    first = traffic.packs_put()
    assert len(first) == 2  # two packs stored, then the upload died

    traffic.cut_after = None
    traffic.clear()
    ds.upload(chunk_size=1)
    resent = traffic.packs_put()
    assert len(resent) == 3 and not set(resent) & set(first)
    sent = sum(n for m, p, n, _ in traffic.calls if m == "PUT" and "/datasets/packs/" in p)
    assert sent < 3 * 900_000 + 10_000  # the three missing files, nothing more
    ds.finalize()
    assert read_tree(Path(ds.get_local_copy())) == files


def test_an_upload_in_a_new_process_resumes_from_the_saved_draft(sdk, tmp_path):
    data = write_tree(tmp_path / "data", {"a.bin": os.urandom(50_000), "b.txt": b"b"})
    ds = Dataset.create(dataset_name="draft", dataset_project=project())
    ds.add_files(data)
    # another process (or this one, restarted) finds the pending changes of the draft
    set_session(None)
    again = Dataset.get(dataset_id=ds.id, only_completed=False)
    assert again.list_files() == ["a.bin", "b.txt"]
    assert again.list_added_files() == ["a.bin", "b.txt"]
    again.upload()
    again.finalize()
    assert read_tree(Path(again.get_local_copy())) == read_tree(data)


def test_get_local_copy_is_free_the_second_time_and_read_only(sdk, tmp_path):
    files = {"a.bin": os.urandom(300_000), "dir/b.bin": os.urandom(1_500_000)}
    ds = Dataset.create(dataset_name="cached", dataset_project=project())
    ds.add_files(write_tree(tmp_path / "data", files))
    ds.finalize(auto_upload=True)
    traffic = Traffic()
    first = Path(Dataset.get(dataset_id=ds.id).get_local_copy())
    assert read_tree(first) == files
    assert traffic.pack_bytes_fetched() > 0

    traffic.clear()
    again = Dataset.get(dataset_id=ds.id)
    traffic.clear()
    assert Path(again.get_local_copy()) == first
    assert traffic.calls == []  # not one request
    for path in (first / "a.bin", first / "dir" / "b.bin", first / "dir"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path  # read-only


def test_a_child_of_a_cached_version_downloads_only_the_difference(sdk, tmp_path):
    rng = random.Random(4)
    base = {f"img/{i}.bin": rng.randbytes(200_000) for i in range(10)}
    data = write_tree(tmp_path / "data", base)
    p = project()
    v1 = Dataset.create(dataset_name="photos", dataset_project=p)
    v1.add_files(data)
    v1.finalize(auto_upload=True)
    v1_copy = Path(v1.get_local_copy())

    new = rng.randbytes(150_000)
    write_tree(data, {"img/new.bin": new})
    v2 = Dataset.create(dataset_name="photos", dataset_project=p, parent_datasets=[v1.id])
    v2.sync_folder(data)
    v2.finalize(auto_upload=True)

    traffic = Traffic()
    v2_copy = Path(Dataset.get(dataset_id=v2.id).get_local_copy())
    assert read_tree(v2_copy) == {**base, "img/new.bin": new}
    assert traffic.pack_bytes_fetched() <= len(new) + 1_000  # one small Range read
    for rel in base:  # the same bytes on disk: hard links into the parent's copy
        assert (v2_copy / rel).stat().st_ino == (v1_copy / rel).stat().st_ino


def test_a_few_members_of_a_pack_are_read_with_ranges(sdk, tmp_path):
    rng = random.Random(5)
    files = {f"f{i:02d}.bin": rng.randbytes(100_000) for i in range(20)}
    p = project()
    v1 = Dataset.create(dataset_name="ranged", dataset_project=p)
    v1.add_files(write_tree(tmp_path / "data", files))
    v1.finalize(auto_upload=True)  # one pack of 2 MB
    # a squash of one version holding only two of the files reads just those two members
    v2 = Dataset.create(dataset_name="ranged-two", dataset_project=p)
    v2.add_files(write_tree(tmp_path / "two", {"f03.bin": files["f03.bin"],
                                           "f17.bin": files["f17.bin"]}))
    v2.finalize(auto_upload=True)
    traffic = Traffic()
    assert read_tree(Path(v2.get_local_copy())) == {"f03.bin": files["f03.bin"],
                                                   "f17.bin": files["f17.bin"]}
    assert traffic.pack_bytes_fetched() <= 2 * 100_000 + 1_000


def test_the_cache_keeps_under_its_limit_evicting_the_least_recently_used(
        sdk, tmp_path, monkeypatch):
    monkeypatch.setenv("ARNO_DATASET_CACHE_LIMIT", str(2_500_000))
    set_session(None)
    p = project()
    versions = []
    for name in ("one", "two", "three"):
        ds = Dataset.create(dataset_name=name, dataset_project=p)
        ds.add_files(write_tree(tmp_path / name, {"blob.bin": os.urandom(1_000_000)}))
        ds.finalize(auto_upload=True)
        versions.append(ds)
    one = Path(versions[0].get_local_copy())
    two = Path(versions[1].get_local_copy())
    versions[0].get_local_copy()  # "one" is now the most recently used
    three = Path(versions[2].get_local_copy())  # no room for three: "two" goes
    assert one.exists() and three.exists() and not two.exists()
    traffic = Traffic()
    assert (Path(versions[1].get_local_copy()) / "blob.bin").stat().st_size == 1_000_000
    assert traffic.pack_bytes_fetched() > 1_000_000 - 1  # downloaded again
    assert not one.exists()


def test_a_mutable_copy_refuses_a_folder_with_files_unless_overwrite(sdk, tmp_path):
    ds = Dataset.create(dataset_name="mutable", dataset_project=project())
    ds.add_files(write_tree(tmp_path / "data", {"a.txt": b"dataset a", "b.txt": b"dataset b"}))
    ds.finalize(auto_upload=True)
    target = write_tree(tmp_path / "target", {"a.txt": b"mine", "notes.txt": b"keep me"})
    from arno.core.errors import Conflict

    with pytest.raises(Conflict, match="overwrite"):
        ds.get_mutable_local_copy(target)
    assert read_tree(target) == {"a.txt": b"mine", "notes.txt": b"keep me"}
    ds.get_mutable_local_copy(target, overwrite=True)
    assert read_tree(target) == {"a.txt": b"dataset a", "b.txt": b"dataset b",
                                 "notes.txt": b"keep me"}
    assert os.access(target / "a.txt", os.W_OK)
    assert stat.S_IMODE((target / "a.txt").stat().st_mode) & 0o200

"""Dataset versions made offline and imported later, through a live server: the round trip
(folder and zip, uploaded and finalized or left a draft), what offline refuses, and packages
that are refused whole before anything reaches the server."""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dataset_trees import read_tree

from arno import Dataset
from arno.core.errors import Conflict, InvalidInput


@pytest.fixture
def offline(sdk) -> Iterator[None]:
    Dataset.set_offline(offline_mode=True)
    try:
        yield
    finally:
        Dataset.set_offline(False)


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def project() -> str:
    return f"dso/{uuid.uuid4().hex[:8]}"


def record(tmp_path: Path, proj: str, name: str = "made-offline") -> tuple[Dataset, Path]:
    """An offline version: files added, one removed, a link, its version set, uploaded."""
    src = tree(tmp_path / "src", {"a.txt": b"alpha", "sub/big.bin": os.urandom(3_000_000),
                                  "sub/drop.txt": b"gone", "empty": b""})
    linked = tree(tmp_path / "elsewhere", {"link.csv": b"1,2\n"}) / "link.csv"
    ds = Dataset.create(dataset_name=name, dataset_project=proj, dataset_tags=["edge"],
                        description="recorded on a plane")
    assert ds.add_files(src, dataset_path="data") == 4
    assert ds.remove_files("data/sub/drop.txt") == 1
    ds.add_external_files(linked.as_uri(), dataset_path="links")
    ds.version = "0.9.1"
    ds.upload()
    assert not ds.is_dirty()
    return ds, src


def test_round_trip_through_a_zip_uploaded_and_finalized(offline, tmp_path):
    proj = project()
    assert Dataset.is_offline()
    ds, src = record(tmp_path, proj)
    folder = ds.get_offline_mode_folder()
    assert folder is not None and (folder / "task.json").is_file()
    assert ds.list_files() == ["data/a.txt", "data/empty", "data/sub/big.bin", "links/link.csv"]
    ds.finalize()
    assert ds.is_final()
    Dataset.set_offline(False)
    assert not Dataset.is_offline()
    assert Dataset.list_datasets(proj, only_completed=False) == []  # nothing reached the server
    zipped = Path(shutil.make_archive(str(tmp_path / "session"), "zip", folder))

    vid = Dataset.import_offline_session(zipped, finalize=True)
    got = Dataset.get(dataset_id=vid)
    assert got.get_offline_mode_folder() is None
    assert (got.name, got.project, got.version) == ("made-offline", proj, "0.9.1")
    assert got.is_final() and got.tags == ["edge"] and got.description == "recorded on a plane"
    assert got.list_files() == ds.list_files()
    copy = read_tree(Path(got.get_local_copy()))
    want = {f"data/{k}": v for k, v in read_tree(src).items() if k != "sub/drop.txt"}
    assert copy == {**want, "links/link.csv": b"1,2\n"}
    assert not list((Path(os.environ["ARNO_HOME"]) / "offline" / "imports").iterdir())


def test_import_from_the_folder_as_a_draft_then_upload(offline, tmp_path):
    proj = project()
    ds, _ = record(tmp_path, proj)
    Dataset.set_offline(False)
    vid = Dataset.import_offline_session(str(ds.get_offline_mode_folder()), upload=False)
    draft = Dataset.get(dataset_id=vid, only_completed=False)
    assert not draft.is_final() and draft.is_dirty()
    assert draft.list_files() == ds.list_files()
    draft.finalize(auto_upload=True)
    assert Dataset.get(dataset_id=vid).stats["file_count"] == 4
    with pytest.raises(Conflict, match="already has version 0.9.1"):  # imported twice
        Dataset.import_offline_session(ds.get_offline_mode_folder())
    assert [d["id"] for d in Dataset.list_datasets(proj, only_completed=False)] == [vid]


def test_offline_refuses_what_needs_the_server(offline, tmp_path):
    with pytest.raises(InvalidInput, match="cannot have parent_datasets"):
        Dataset.create(dataset_name="child", dataset_project=project(),
                       parent_datasets=["0" * 32])
    with pytest.raises(InvalidInput, match="needs dataset_project"):
        Dataset.create(dataset_name="nowhere")
    assert not (Path(os.environ["ARNO_HOME"]) / "offline" / "datasets").exists()
    ds = Dataset.create(dataset_name="empty", dataset_project=project())
    with pytest.raises(InvalidInput, match="nothing to finalize"):
        ds.finalize()


def _package(tmp_path: Path, proj: str) -> Path:
    ds, _ = record(tmp_path, proj)
    return Path(ds.get_offline_mode_folder())


def _zip(folder: Path, target: Path, extra: dict[str, bytes] | None = None,
         edit: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                name = item.relative_to(folder).as_posix()
                zf.writestr(name, (edit or {}).get(name, item.read_bytes()))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return target


def test_bad_packages_are_refused_before_anything_is_sent(offline, tmp_path):
    proj = project()
    folder = _package(tmp_path, proj)
    Dataset.set_offline(False)
    blob = next(p for p in (folder / "blobs").iterdir() if p.stat().st_size == 5)
    task = json.loads((folder / "task.json").read_text())
    bad = {
        "escape": _zip(folder, tmp_path / "escape.zip", extra={"../evil": b"x"}),
        "stranger": _zip(folder, tmp_path / "stranger.zip", extra={"notes.txt": b"x"}),
        "tampered": _zip(folder, tmp_path / "tampered.zip",
                         edit={f"blobs/{blob.name}": b"ALPHA"}),
        "task format": _zip(folder, tmp_path / "task.zip",
                            edit={"meta.json": b'{"format": "arno-offline-task/1"}'}),
        "bad path": _zip(folder, tmp_path / "path.zip", edit={"task.json": json.dumps(
            {**task, "files": [{**task["files"][0], "path": "../up"}]}).encode()}),
        "no name": _zip(folder, tmp_path / "name.zip", edit={"task.json": json.dumps(
            {**task, "name": ""}).encode()}),
        "missing bytes": _zip(folder, tmp_path / "missing.zip", edit={"task.json": json.dumps(
            {**task, "files": [*task["files"], {"path": "x", "size": 3, "hash": "1" * 64,
                                                "pieces": []}]}).encode()}),
        "not a zip": tree(tmp_path / "junk", {"junk.zip": b"no zip"}) / "junk.zip",
    }
    for what, path in bad.items():
        with pytest.raises(InvalidInput):
            Dataset.import_offline_session(path)
        assert Dataset.list_datasets(proj, only_completed=False) == [], what
    with pytest.raises(Exception, match="no offline dataset session"):
        Dataset.import_offline_session(tmp_path / "nowhere.zip")

"""The rest of ClearML's ``Dataset`` calls, through a live server: finding versions by state,
recording a use (which never fails the call), tags, description, publishing, lineage, packs,
links, partial copies, checking a copy, an open squash and deleting linked files."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import pytest
from tests.dataset_trees import read_tree

from arno import Dataset, Task
from arno.core.errors import Conflict, Immutable, InvalidInput, NotFound


def project() -> str:
    return f"dsc/{uuid.uuid4().hex[:8]}"


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def final(name: str, proj: str, folder: Path, files: dict[str, bytes] | None = None,
          **kwargs) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project=proj, **kwargs)
    ds.add_files(tree(folder / uuid.uuid4().hex, files or {"f.txt": os.urandom(16)}))
    ds.finalize(auto_upload=True)
    return ds


def test_get_in_a_process_whose_task_is_completed_returns_the_dataset(sdk, tmp_path, caplog):
    p = project()
    ds = final("inputs", p, tmp_path)
    task = Task.init(project_name=p, task_name="done", auto_connect_streams=False,
                     auto_resource_monitoring=False)
    task.mark_completed()
    with pytest.raises(Immutable):  # what the recording runs into
        task.set_parameters({"Datasets/x": ds.id})
    with caplog.at_level(logging.WARNING, logger="arno.dataset"):
        found = Dataset.get(dataset_project=p, dataset_name="inputs", alias="x")
    assert found.id == ds.id
    assert any("not recorded" in r.getMessage() for r in caplog.records)


def test_overridable_alias_takes_the_id_set_in_the_task(sdk, tmp_path):
    p = project()
    first = final("data", p, tmp_path)
    other = final("other", p, tmp_path)
    task = Task.init(project_name=p, task_name="train", auto_connect_streams=False,
                     auto_resource_monitoring=False)
    task.set_parameters({"Datasets/train": other.id})  # as edited before a remote run
    got = Dataset.get(dataset_project=p, dataset_name="data", alias="train", overridable=True)
    assert got.id == other.id
    got = Dataset.get(dataset_project=p, dataset_name="data", alias="train")
    assert got.id == first.id
    assert task.get_parameters_as_dict()["Datasets"] == {"train": first.id}


def test_get_by_state_published_and_archived(sdk, tmp_path):
    p = project()
    v1 = final("states", p, tmp_path)
    v2 = final("states", p, tmp_path)
    draft = Dataset.create(dataset_name="states", dataset_project=p)
    assert Dataset.get(dataset_project=p, dataset_name="states").id == draft.id
    assert Dataset.get(dataset_project=p, dataset_name="states",
                       only_completed=True).id == v2.id
    with pytest.raises(NotFound, match="published"):
        Dataset.get(dataset_project=p, dataset_name="states", only_published=True)
    assert v1.publish() is True
    assert Dataset.get(dataset_project=p, dataset_name="states",
                       only_published=True).id == v1.id
    Task.get_task(task_id=v2.id).set_archived(True)
    assert Dataset.get(dataset_project=p, dataset_name="states",
                       only_completed=True).id == v1.id
    assert Dataset.get(dataset_project=p, dataset_name="states", only_completed=True,
                       include_archived=True).id == v2.id
    with pytest.raises(Conflict, match="not finalized"):
        draft.publish()
    assert draft.publish(raise_on_error=False) is False
    with pytest.raises(Immutable, match="published"):
        Dataset.delete(dataset_id=v1.id)
    Dataset.delete(dataset_id=v1.id, force=True)
    with pytest.raises(NotFound):
        Dataset.get(dataset_id=v1.id)


def test_tags_and_description_change_and_are_read_back(sdk, tmp_path):
    p = project()
    ds = final("labelled", p, tmp_path, dataset_tags=["raw"], description="first")
    ds.add_tags(["clean", "raw"])
    ds.add_tags("v1")
    ds.set_description("cleaned up")
    again = Dataset.get(dataset_id=ds.id)
    assert again.tags == ["raw", "clean", "v1"] and again.description == "cleaned up"
    again.tags = ["only"]
    assert Dataset.get(dataset_id=ds.id).tags == ["only"]
    assert Dataset.get(dataset_project=p, dataset_tags=["only"]).id == ds.id
    with pytest.raises(InvalidInput):
        again.set_description(3)  # type: ignore[arg-type]


def test_dependency_graph_chunks_and_storage(sdk, tmp_path):
    p = project()
    big = os.urandom(3_000_000)
    a = final("lineage", p, tmp_path, {"a.bin": big})
    b = final("other", p, tmp_path, {"b.txt": b"b"})
    c = Dataset.create(dataset_name="lineage", dataset_project=p, parent_datasets=[a, b])
    c.add_files(tree(tmp_path / "c", {"c.txt": b"c"}))
    assert c.is_dirty()
    c.finalize(auto_upload=True)
    assert not c.is_dirty()
    assert c.get_dependency_graph() == {c.id: [a.id, b.id], a.id: [], b.id: []}
    assert c.get_num_chunks(include_parents=False) == 1
    assert c.get_num_chunks() == 3  # one pack per upload
    assert a.get_num_chunks() == 1
    assert c.get_default_storage().startswith(sdk.url)


def test_links_hashes_and_verifying_a_copy(sdk, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"a,b\n1,2\n")
    ds = Dataset.create(dataset_name="checked", dataset_project=project())
    ds.add_external_files(outside.as_uri(), dataset_path="ext", read_hash=True)
    ds.add_files(tree(tmp_path / "own", {"own.txt": b"own", "sub/x.bin": os.urandom(5000)}))
    ds.finalize(auto_upload=True)
    got = Dataset.get(dataset_id=ds.id)
    assert list(got.link_entries_dict) == ["ext/outside.csv"]
    link = got.link_entries[0]
    assert link.link == outside.as_uri() and link.size == 8 and link.hash
    assert got.verify_dataset_hash() == []
    mine = Path(got.get_mutable_local_copy(tmp_path / "mine"))
    assert got.verify_dataset_hash(str(mine)) == []
    (mine / "own.txt").write_bytes(b"OWN")  # same size, other bytes
    (mine / "sub" / "x.bin").unlink()
    assert got.verify_dataset_hash(str(mine), skip_hash=True) == ["sub/x.bin"]
    assert got.verify_dataset_hash(str(mine)) == ["own.txt", "sub/x.bin"]


def test_get_local_copy_of_some_files(sdk, tmp_path):
    files = {"a.txt": b"a", "d/b.txt": b"b", "d/c.bin": os.urandom(3000)}
    ds = final("partial", project(), tmp_path, files)
    part = Path(ds.get_local_copy(files=["d/b.txt", "a.txt"]))
    assert read_tree(part) == {"a.txt": b"a", "d/b.txt": b"b"}
    assert ds.get_local_copy(files=["a.txt", "d/b.txt"]) == str(part)  # made once
    with pytest.raises(NotFound, match="nope"):
        ds.get_local_copy(files=["nope"])
    whole = ds.get_local_copy()
    assert ds.get_local_copy(files=["a.txt"]) == whole  # the cached copy has them all
    Dataset.delete(dataset_id=ds.id)
    assert not part.exists()


def test_squash_left_open_takes_more_files(sdk, tmp_path):
    p = project()
    v1 = final("parts", p, tmp_path, {"a.txt": b"a1", "b.txt": b"b"})
    v2 = final("parts", p, tmp_path, {"a.txt": b"a2"})
    open_ = Dataset.squash("merged", dataset_ids=[v1, v2], close_squashed_dataset=False)
    assert not open_.is_final() and open_.parent_datasets == []
    assert open_.list_files() == ["a.txt", "b.txt"]
    open_.add_files(tree(tmp_path / "more", {"c.txt": b"c"}))
    open_.finalize(auto_upload=True)
    assert read_tree(Path(open_.get_local_copy())) == {
        "a.txt": b"a2", "b.txt": b"b", "c.txt": b"c"}
    closed = Dataset.squash("merged2", dataset_ids=[v1.id, v2.id])
    assert closed.is_final()


def test_delete_external_files_deletes_only_the_versions_own_links(sdk, tmp_path):
    kept, own = tmp_path / "kept.txt", tmp_path / "own.txt"
    kept.write_bytes(b"k")
    own.write_bytes(b"o")
    p = project()
    base = Dataset.create(dataset_name="linked", dataset_project=p)
    base.add_external_files(kept.as_uri())
    base.finalize(auto_upload=True)
    child = Dataset.create(dataset_name="linked", dataset_project=p, parent_datasets=[base])
    child.add_external_files([own.as_uri(), "https://127.0.0.1:9/nothing.txt"])
    child.finalize(auto_upload=True)
    Dataset.delete(dataset_id=child.id, delete_external_files=True)
    assert kept.exists() and not own.exists()  # the https link is a warning
    Dataset.delete(dataset_id=base.id)
    assert kept.exists()


def test_upload_as_external_links(sdk, tmp_path):
    ds = Dataset.create(dataset_name="as links", dataset_project=project())
    ds.add_files(tree(tmp_path / "src", {"a.txt": b"a", "d/b.txt": b"bb"}))
    with pytest.raises(InvalidInput, match="output_url"):
        ds.upload(upload_as_external_links=True)
    store = tmp_path / "bucket"
    ds.upload(output_url=store.as_uri(), upload_as_external_links=True)
    ds.finalize()
    got = Dataset.get(dataset_id=ds.id)
    assert {f.relative_path: f.link for f in got.link_entries} == {
        "a.txt": f"{store.as_uri()}/{ds.id}/a.txt", "d/b.txt": f"{store.as_uri()}/{ds.id}/d/b.txt"}
    assert (store / ds.id / "d" / "b.txt").read_bytes() == b"bb"
    assert read_tree(Path(got.get_local_copy())) == {"a.txt": b"a", "d/b.txt": b"bb"}
    assert got.verify_dataset_hash() == []


def test_rename_and_move_to_project_take_every_version(sdk, tmp_path):
    p = project()
    first = final("raw", p, tmp_path)
    second = Dataset.create(dataset_name="raw", dataset_project=p, parent_datasets=[first])
    Dataset.rename("clean", dataset_project=p, dataset_name="raw")
    assert {d["id"] for d in Dataset.list_datasets(p, partial_name="clean",
                                                   only_completed=False)} == {first.id, second.id}
    with pytest.raises(NotFound):
        Dataset.get(dataset_project=p, dataset_name="raw")
    target = project()
    Dataset.move_to_project(target, dataset_project=p, dataset_name="clean")
    got = Dataset.get(dataset_id=second.id)
    assert (got.project, got.name) == (target, "clean")
    assert Dataset.get(dataset_project=target, dataset_name="clean").id == second.id
    with pytest.raises(NotFound):
        Dataset.rename("x", dataset_project=p, dataset_name="clean")
    final("taken", target, tmp_path)
    with pytest.raises(Conflict, match="already has a dataset named 'taken'"):
        Dataset.rename("taken", dataset_project=target, dataset_name="clean")


def test_version_is_settable_on_a_draft_only(sdk, tmp_path):
    p = project()
    ds = Dataset.create(dataset_name="v", dataset_project=p)
    ds.version = "2.5.0"
    assert ds.version == "2.5.0" and Dataset.get(dataset_id=ds.id).version == "2.5.0"
    with pytest.raises(InvalidInput):
        ds.version = ""
    other = Dataset.create(dataset_name="v", dataset_project=p, dataset_version="3.0")
    with pytest.raises(Conflict, match="already has version 2.5.0"):
        other.version = "2.5.0"
    ds.add_files(tree(tmp_path / "v", {"a": b"a"}))
    ds.finalize(auto_upload=True)
    with pytest.raises(Immutable):
        ds.version = "2.6.0"
    assert ds.version == "2.5.0"

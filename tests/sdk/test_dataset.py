"""``Dataset`` through a live server as a user's script drives it: versions made, found again
and read back byte for byte; lineage and what changed; immutability after ``finalize``; the
logger, metadata, external links, squash and delete."""

from __future__ import annotations

import os
import random
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from tests.dataset_trees import read_tree

from arno import Dataset, Task
from arno.core.errors import Conflict, Immutable, NotFound


def project() -> str:
    return f"ds/{uuid.uuid4().hex[:8]}"


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root



def final_version(name: str, proj: str, tmp_path: Path, files: dict[str, bytes] | None = None,
                  **kwargs) -> Dataset:
    """A finalized version holding ``files`` (default: one small unique file)."""
    ds = Dataset.create(dataset_name=name, dataset_project=proj, **kwargs)
    folder = make_tree(tmp_path / uuid.uuid4().hex, files or {"f.txt": os.urandom(16)})
    ds.add_files(folder)
    ds.finalize(auto_upload=True)
    return ds


def test_create_add_upload_finalize_get_round_trip(server, sdk, tmp_path):
    rng = random.Random(1)
    files = {
        "train/a.csv": b"x,y\n1,2\n",
        "train/deep/b.bin": rng.randbytes(2_500_000),  # cut into several pieces
        "test/c.json": b'{"k": 1}',
        "empty.txt": b"",
        "same-as-a.csv": b"x,y\n1,2\n",  # identical content is stored once
    }
    data = make_tree(tmp_path / "data", files)
    p = project()
    ds = Dataset.create(dataset_name="images", dataset_project=p, dataset_tags=["raw"],
                        description="first cut")
    assert (ds.name, ds.project, ds.version, ds.tags) == ("images", p, "1.0.0", ["raw"])
    assert not ds.is_final() and ds.parent_datasets == []
    assert ds.add_files(data) == 5
    assert ds.list_files() == sorted(files)
    assert ds.list_files("*.csv") == ["same-as-a.csv", "train/a.csv"]
    ds.upload()
    ds.finalize()
    assert ds.is_final()
    assert ds.stats["file_count"] == 5 and ds.stats["total_size"] == sum(map(len, files.values()))

    found = Dataset.get(dataset_project=p, dataset_name="images")
    assert found.id == ds.id and found.is_final()
    assert Dataset.get(dataset_tags=["raw"], dataset_project=p).id == ds.id
    local = Path(found.get_local_copy())
    assert read_tree(local) == files
    entries = found.file_entries_dict
    assert entries["train/deep/b.bin"].size == 2_500_000
    assert len(entries["train/deep/b.bin"].pieces) > 1
    assert entries["empty.txt"].pieces == []

    copy = Path(found.get_mutable_local_copy(tmp_path / "mine"))
    assert read_tree(copy) == files
    (copy / "train" / "a.csv").write_text("mine now")  # writable, and the cache is untouched
    assert (local / "train" / "a.csv").read_bytes() == files["train/a.csv"]


def test_child_versions_know_what_changed(sdk, tmp_path):
    p = project()
    v1_data = make_tree(tmp_path / "v1", {"keep.txt": b"same", "edit.txt": b"old",
                                           "drop.txt": b"bye", "dir/x.txt": b"x"})
    v1 = Dataset.create(dataset_name="notes", dataset_project=p)
    v1.add_files(v1_data)
    v1.upload()
    v1.finalize()

    v2 = Dataset.create(dataset_name="notes", dataset_project=p, parent_datasets=[v1.id])
    assert v2.parent_datasets == [v1.id] and v2.version == "1.0.1"
    assert v2.list_files() == ["dir/x.txt", "drop.txt", "edit.txt", "keep.txt"]  # inherited
    make_tree(tmp_path / "more", {"edit.txt": b"new content", "fresh.txt": b"hello"})
    assert v2.add_files(tmp_path / "more") == 2
    assert v2.remove_files("drop.txt") == 1
    assert v2.remove_files("dir") == 1  # a folder removes what is in it
    assert v2.remove_files("nothing-*") == 0
    # known before the upload ...
    assert v2.list_added_files() == ["fresh.txt"]
    assert v2.list_modified_files() == ["edit.txt"]
    assert v2.list_removed_files() == ["dir/x.txt", "drop.txt"]
    v2.upload()
    v2.finalize()
    # ... and after, from the server, for anyone
    again = Dataset.get(dataset_id=v2.id)
    assert again.list_added_files() == ["fresh.txt"]
    assert again.list_modified_files() == ["edit.txt"]
    assert again.list_removed_files() == ["dir/x.txt", "drop.txt"]
    assert again.stats["added_files"] == 1 and again.stats["removed_files"] == 2
    assert read_tree(Path(again.get_local_copy())) == {
        "edit.txt": b"new content", "fresh.txt": b"hello", "keep.txt": b"same"}
    # the newest final version is the one found by name; a given version finds that one
    assert Dataset.get(dataset_project=p, dataset_name="notes").id == v2.id
    assert Dataset.get(dataset_project=p, dataset_name="notes", dataset_version="1.0.0").id \
        == v1.id

    # two parents merge in order: the later one wins on the same path
    other = Dataset.create(dataset_name="other", dataset_project=p)
    other.add_files(make_tree(tmp_path / "o", {"keep.txt": b"from other", "o.txt": b"o"}))
    other.finalize(auto_upload=True)
    merged = Dataset.create(dataset_name="merged", dataset_project=p,
                            parent_datasets=[v2, other.id])
    merged.finalize()
    assert read_tree(Path(merged.get_local_copy())) == {
        "edit.txt": b"new content", "fresh.txt": b"hello", "keep.txt": b"from other",
        "o.txt": b"o"}


def test_a_small_edit_in_a_large_file_stores_only_the_pieces_around_it(sdk, tmp_path):
    # pieces average ~1.25 MB (never over 4 MiB): an edit makes one or two of them new
    blob = bytearray(random.Random(3).randbytes(5_000_000))
    (tmp_path / "d").mkdir()
    big = tmp_path / "d" / "big.bin"
    big.write_bytes(blob)
    p = project()
    v1 = Dataset.create(dataset_name="big", dataset_project=p)
    v1.add_files(tmp_path / "d")
    v1.upload()
    v1.finalize()
    store_before = sdk.services.store.used_bytes()

    blob[2_500_000] ^= 0xFF  # one byte in the middle
    big.write_bytes(blob)
    v2 = Dataset.create(dataset_name="big", dataset_project=p, parent_datasets=[v1.id])
    assert v2.sync_folder(tmp_path / "d") == (0, 0, 1)
    v2.upload()
    v2.finalize()
    grown = sdk.services.store.used_bytes() - store_before
    new_pieces = set(v2.file_entries[0].pieces) - set(v1.file_entries[0].pieces)
    assert 1 <= len(new_pieces) <= 2
    assert 0 < v2.stats["new_stored_bytes"] <= 1_500_000
    assert grown <= 1_500_000  # not the 5 MB of the whole file
    assert v2.list_modified_files() == ["big.bin"]
    assert (Path(v2.get_local_copy()) / "big.bin").read_bytes() == bytes(blob)


def test_sync_folder_mirrors_a_folder(sdk, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c", "b/d.txt": b"d"})
    p = project()
    v1 = Dataset.create(dataset_name="mirror", dataset_project=p)
    assert v1.sync_folder(src, dataset_path="data") == (0, 3, 0)
    v1.add_files(make_tree(tmp_path / "other", {"readme.md": b"outside the synced folder"}))
    v1.finalize(auto_upload=True)

    (src / "a.txt").write_bytes(b"A!")
    (src / "b" / "c.txt").unlink()
    (src / "e.txt").write_bytes(b"e")
    v2 = Dataset.create(dataset_name="mirror", dataset_project=p, parent_datasets=[v1.id])
    assert v2.sync_folder(src, dataset_path="data") == (1, 1, 1)
    assert v2.sync_folder(src, dataset_path="data") == (0, 0, 0)  # nothing changed since
    v2.finalize(auto_upload=True)
    assert read_tree(Path(v2.get_local_copy())) == {
        "data/a.txt": b"A!", "data/b/d.txt": b"d", "data/e.txt": b"e",
        "readme.md": b"outside the synced folder"}


def test_add_files_options(sdk, tmp_path):
    src = make_tree(tmp_path / "src", {"a.csv": b"1", "a.txt": b"2", "sub/b.csv": b"3",
                                       "sub/deeper/c.csv": b"4"})
    ds = Dataset.create(dataset_name="opts", dataset_project=project())
    assert ds.add_files(src, wildcard="*.csv", recursive=False) == 1
    assert ds.add_files(src / "sub", wildcard=["*.csv"], dataset_path="/nested/") == 2
    assert ds.add_files(src / "a.txt", dataset_path="single") == 1
    assert ds.add_files(src / "a.txt", dataset_path="single") == 0  # same content again
    assert ds.list_files() == ["a.csv", "nested/b.csv", "nested/deeper/c.csv", "single/a.txt"]
    assert ds.list_files("*.csv", recursive=False) == ["a.csv"]


def test_a_final_version_refuses_every_change(sdk, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})
    ds = Dataset.create(dataset_name="frozen", dataset_project=project())
    ds.add_files(src)
    with pytest.raises(Conflict, match="upload"):
        ds.finalize()  # changes not uploaded yet
    ds.upload()
    ds.finalize()
    for change in (lambda: ds.add_files(src), lambda: ds.remove_files("a.txt"),
                   lambda: ds.sync_folder(src), lambda: ds.upload(), lambda: ds.finalize(),
                   lambda: ds.add_external_files("s3://bucket/x.bin"),
                   lambda: ds.set_metadata({"k": 1})):
        with pytest.raises(Immutable):
            change()
    # another client's copy of the same version: the server refuses too
    stale = Dataset.get(dataset_id=ds.id)
    stale._info["state"] = "draft"
    stale.add_files(make_tree(tmp_path / "late", {"late.txt": b"late"}))
    with pytest.raises(Immutable):
        stale.upload()
    assert Dataset.get(dataset_id=ds.id).list_files() == ["a.txt"]


def test_two_clients_finalizing_one_version_one_wins(sdk, tmp_path):
    ds = final_version("race", project(), tmp_path)
    twin = Dataset.get(dataset_id=ds.id, only_completed=False)
    twin._info["state"] = "draft"  # it read the version before the other client finalized
    with pytest.raises(Conflict):
        twin.finalize()


def test_get_records_the_dataset_in_the_running_task(sdk, tmp_path):
    p = project()
    ds = final_version("inputs", p, tmp_path)
    task = Task.init(project_name=p, task_name="train", auto_connect_streams=False,
                     auto_resource_monitoring=False)
    Dataset.get(dataset_id=ds.id, alias="train_data")
    Dataset.get(dataset_project=p, dataset_name="inputs")
    assert task.get_parameters_as_dict()["Datasets"] == {"train_data": ds.id, "inputs": ds.id}
    task.close()
    with pytest.raises(NotFound):
        Dataset.get(dataset_project=p, dataset_name="no-such")
    draft = Dataset.create(dataset_name="unfinished", dataset_project=p)
    with pytest.raises(NotFound):
        Dataset.get(dataset_project=p, dataset_name="unfinished", only_completed=True)
    assert Dataset.get(dataset_project=p, dataset_name="unfinished").id == draft.id  # any state
    child = Dataset.get(dataset_id=ds.id, writable_copy=True)
    assert child.parent_datasets == [ds.id] and not child.is_final()


def test_list_datasets(sdk, tmp_path):
    p = project()
    a = final_version("alpha", p, tmp_path, dataset_tags=["x"])
    b = final_version("beta", p, tmp_path, dataset_tags=["x", "y"])
    draft = Dataset.create(dataset_name="alphabet", dataset_project=p)
    rows = Dataset.list_datasets(dataset_project=p)
    assert [r["id"] for r in rows] == [b.id, a.id]
    assert set(rows[0]) >= {"id", "name", "project", "version", "tags", "created"}
    assert rows[0]["tags"] == ["x", "y"] and rows[0]["created"].tzinfo is not None
    assert {r["id"] for r in Dataset.list_datasets(dataset_project=p, partial_name="alpha",
                                                   only_completed=False)} == {a.id, draft.id}
    assert [r["id"] for r in Dataset.list_datasets(dataset_project=p, tags=["y"])] == [b.id]
    assert [r["id"] for r in Dataset.list_datasets(ids=[a.id])] == [a.id]


def test_squash_merges_versions_without_copying(sdk, tmp_path):
    p = project()
    v1 = Dataset.create(dataset_name="parts", dataset_project=p)
    v1.add_files(make_tree(tmp_path / "1", {"a.txt": b"a1", "b.txt": b"b"}))
    v1.finalize(auto_upload=True)
    v2 = Dataset.create(dataset_name="parts", dataset_project=p)
    v2.add_files(make_tree(tmp_path / "2", {"a.txt": b"a2", "c.txt": b"c"}))
    v2.finalize(auto_upload=True)
    before = sdk.services.store.used_bytes()
    squashed = Dataset.squash("parts-all", dataset_ids=[v1.id, v2])
    assert squashed.is_final() and squashed.parent_datasets == [] and squashed.project == p
    assert sdk.services.store.used_bytes() - before < 10_000  # a manifest, no data
    assert read_tree(Path(squashed.get_local_copy())) == {"a.txt": b"a2", "b.txt": b"b",
                                                           "c.txt": b"c"}


def test_external_files_are_linked_not_stored(sdk, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"a,b\n1,2\n")
    ds = Dataset.create(dataset_name="links", dataset_project=project())
    assert ds.add_external_files(outside.as_uri(), dataset_path="ext") == 1
    ds.add_files(make_tree(tmp_path / "own", {"own.txt": b"own"}))
    ds.upload()
    ds.finalize()
    entries = Dataset.get(dataset_id=ds.id).file_entries_dict
    assert entries["ext/outside.csv"].link == outside.as_uri()
    assert entries["ext/outside.csv"].pieces == []
    assert read_tree(Path(ds.get_local_copy())) == {"ext/outside.csv": b"a,b\n1,2\n",
                                                    "own.txt": b"own"}

    s3 = Dataset.create(dataset_name="s3 links", dataset_project=project())
    s3.add_external_files(["s3://bucket/img/1.jpg", "https://example.com/x/2.jpg"])
    s3.upload()
    s3.finalize()
    links = {f.relative_path: f.link for f in Dataset.get(dataset_id=s3.id).file_entries}
    assert links == {"1.jpg": "s3://bucket/img/1.jpg", "2.jpg": "https://example.com/x/2.jpg"}


def test_logger_and_metadata_live_with_the_version(sdk, tmp_path):
    ds = Dataset.create(dataset_name="documented", dataset_project=project())
    ds.add_files(make_tree(tmp_path / "d", {"labels.csv": b"cat,3\ndog,5\n"}))
    ds.upload()
    frame = pd.DataFrame({"label": ["cat", "dog"], "count": [3, 5]})
    ds.set_metadata(frame, metadata_name="labels")
    ds.set_metadata({"source": "camera 2"})
    ds.get_logger().report_table("summary", "labels", table_plot=frame)
    ds.get_logger().report_histogram("class distribution", "count", values=[3, 5],
                                     xlabels=["cat", "dog"])
    ds.finalize()
    again = Dataset.get(dataset_id=ds.id)
    pd.testing.assert_frame_equal(again.get_metadata("labels"), frame)
    assert again.get_metadata() == {"source": "camera 2"}
    assert again.get_metadata("absent") is None
    plots = Task.get_task(task_id=ds.id).get_reported_plots()
    assert {pl["metric"] for pl in plots} == {"summary", "class distribution"}


def test_delete_is_refused_while_something_depends_on_it(sdk, tmp_path):
    p = project()
    v1 = Dataset.create(dataset_name="base", dataset_project=p)
    v1.add_files(make_tree(tmp_path / "b", {"a.txt": os.urandom(100)}))
    v1.finalize(auto_upload=True)
    cached = Path(v1.get_local_copy())
    v2 = Dataset.create(dataset_name="base", dataset_project=p, parent_datasets=[v1.id])
    v2.finalize()
    with pytest.raises(Conflict, match=v2.id):
        Dataset.delete(dataset_id=v1.id)
    Dataset.delete(dataset_id=v2.id)
    Dataset.delete(dataset_id=v1.id)
    assert not cached.exists()  # the local copy goes too
    with pytest.raises(NotFound):
        Dataset.get(dataset_id=v1.id)


def test_a_rewritten_file_with_the_same_size_and_time_is_still_seen_as_changed(sdk, tmp_path):
    src = make_tree(tmp_path / "src", {"a.bin": b"1" * 1000, "b.bin": b"2" * 1000})
    time.sleep(0.3)  # settled files: their hashes are remembered between runs
    p = project()
    v1 = Dataset.create(dataset_name="stamps", dataset_project=p)
    v1.add_files(src)
    v1.finalize(auto_upload=True)
    before = (src / "a.bin").stat()
    (src / "a.bin").write_bytes(b"3" * 1000)  # same size ...
    os.utime(src / "a.bin", ns=(before.st_atime_ns, before.st_mtime_ns))  # ... same time
    v2 = Dataset.create(dataset_name="stamps", dataset_project=p, parent_datasets=[v1])
    assert v2.sync_folder(src) == (0, 0, 1)
    assert v2.list_modified_files() == ["a.bin"]
    v2.finalize(auto_upload=True)
    assert (Path(v2.get_local_copy()) / "a.bin").read_bytes() == b"3" * 1000

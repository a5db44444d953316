"""A dataset's life through the live server (SQLite and PostgreSQL): versions built on parents
with stats, diffs and file listings against them, several parents merged, two clients
finalising at once, squash, and deletion refused while versions or tasks depend on it."""

from __future__ import annotations

import os
import threading

import httpx
import pytest
from tests.conftest import LiveServer
from tests.services.dataset_helpers import (
    API,
    build,
    create,
    finalize,
    manifest,
    missing,
    pack_stored,
    publish,
    put_manifest,
    unique,
    upload,
)


@pytest.fixture(scope="module")
def c(server: LiveServer):
    with server.client() as client:
        yield client


def _paths(files: list[dict]) -> list[str]:
    return [f["path"] for f in files]


def test_child_version_counts_and_lists_its_changes(c):
    name = unique()
    v1_content = build({"keep.txt": b"same", "change.csv": b"a,b\n1,2\n",
                        "drop.bin": os.urandom(1000), "big.bin": os.urandom(300_000)})
    v1 = publish(c, name, v1_content.files, v1_content.pack)
    assert v1["stats"]["added_files"] == 4 and v1["stats"]["removed_files"] == 0

    changed = build({"change.csv": b"a,b\n1,2\n3,4\n", "new/one.txt": b"new file"})
    files = {**v1_content.by_path(), **changed.by_path()}
    del files["drop.bin"]
    v2 = create(c, name, parents=[v1["id"]])
    upload(c, changed.pack)
    out = put_manifest(c, v2["id"], list(files.values()))
    st = out["stats"]
    assert (st["added_files"], st["modified_files"], st["removed_files"]) == (1, 1, 1)
    assert st["added_bytes"] == 8 and st["modified_bytes"] == 12 and st["removed_bytes"] == 1000
    assert st["file_count"] == 4 and st["total_size"] == 4 + 12 + 300_000 + 8
    assert st["new_stored_bytes"] == len(changed.pack.data)  # v1's packs are not new

    diff = c.get(f"{API}/datasets/{v2['id']}/diff").json()
    assert _paths(diff["added"]) == ["new/one.txt"]
    assert _paths(diff["modified"]) == ["change.csv"]
    assert diff["modified"][0]["size"] == 12  # as it is now
    assert _paths(diff["removed"]) == ["drop.bin"]
    back = c.get(f"{API}/datasets/{v1['id']}/diff", params={"against": v2["id"]}).json()
    assert _paths(back["added"]) == ["drop.bin"] and _paths(back["removed"]) == ["new/one.txt"]

    page = c.get(f"{API}/datasets/{v2['id']}/files").json()
    assert page["total"] == 4
    assert {f["path"]: f["status"] for f in page["files"]} == {
        "big.bin": "unchanged", "change.csv": "modified", "keep.txt": "unchanged",
        "new/one.txt": "added"}
    removed = c.get(f"{API}/datasets/{v2['id']}/files", params={"status": "removed"}).json()
    assert removed["total"] == 1 and removed["files"][0]["status"] == "removed"
    in_new = c.get(f"{API}/datasets/{v2['id']}/files", params={"prefix": "new/"}).json()
    assert _paths(in_new["files"]) == ["new/one.txt"]
    paged = c.get(f"{API}/datasets/{v2['id']}/files", params={"offset": 1, "limit": 2}).json()
    assert paged["total"] == 4 and _paths(paged["files"]) == ["change.csv", "keep.txt"]
    bad = c.get(f"{API}/datasets/{v2['id']}/files", params={"status": "weird"})
    assert bad.status_code == 422

    # PUT again replaces the draft's manifest and its counts
    again = put_manifest(c, v2["id"], v1_content.files)
    assert again["stats"]["added_files"] == again["stats"]["removed_files"] == 0
    assert again["manifest_hash"] == v1["manifest_hash"]  # the same files, the same blob


def test_several_parents_merge_in_order(c):
    a = build({"shared.txt": b"from a", "only_a": b"a"})
    b = build({"shared.txt": b"from b!", "only_b": b"b"})
    pa = publish(c, unique(), a.files, a.pack)
    pb = publish(c, unique(), b.files, b.pack)
    child = create(c, unique(), parents=[pa["id"], pb["id"]])
    assert child["parents"] == [pa["id"], pb["id"]]
    merged = manifest(c, child["id"])
    assert sorted(merged) == ["only_a", "only_b", "shared.txt"]
    assert merged["shared.txt"]["size"] == 7  # the later parent wins
    done = finalize(c, child["id"])  # no manifest PUT: the merge is the content
    assert done["stats"]["file_count"] == 3 and done["stats"]["added_files"] == 0
    assert manifest(c, child["id"]) == merged


def _finalize_twice_at_once(server: LiveServer, vid: str) -> list[int]:
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def close() -> None:
        with server.client() as own:
            barrier.wait()
            codes.append(own.post(f"{API}/datasets/{vid}/finalize").status_code)

    threads = [threading.Thread(target=close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(codes)


def test_two_clients_finalising_at_once(server, c):
    for _ in range(3):
        content = build({"f": os.urandom(2000)})
        v = create(c, unique())
        upload(c, content.pack)
        put_manifest(c, v["id"], content.files)
        assert _finalize_twice_at_once(server, v["id"]) == [200, 409]
        assert c.get(f"{API}/datasets/{v['id']}").json()["state"] == "final"


def test_squash_merges_final_versions_without_copying(c):
    a = build({"x": b"x1", "y": b"y1"})
    b = build({"y": b"y2", "z": b"z2"})
    va = publish(c, unique(), a.files, a.pack)
    vb = publish(c, unique(), b.files, b.pack)
    draft = create(c, unique())
    name = unique("squashed")
    refused = c.post(f"{API}/datasets/squash",
                     json={"name": name, "project": "datasets", "ids": [va["id"], draft["id"]]})
    assert refused.status_code == 409 and draft["id"] in refused.json()["error"]["message"]
    resp = c.post(f"{API}/datasets/squash",
                  json={"name": name, "project": "datasets", "ids": [va["id"], vb["id"]]})
    assert resp.status_code == 201, resp.text
    sq = resp.json()
    assert sq["state"] == "final" and sq["parents"] == [] and sq["version"] == "1.0.0"
    assert sq["stats"]["file_count"] == 3 and sq["stats"]["new_stored_bytes"] == 0
    files = manifest(c, sq["id"])
    assert files["y"]["hash"] == b.by_path()["y"]["hash"]
    assert c.get(f"{API}/datasets", params={"name": name}).json()[0]["id"] == sq["id"]


def test_delete_refused_while_used_then_forced(server, c):
    content = build({"base.txt": b"base"})
    parent = publish(c, unique(), content.files, content.pack)
    extra = build({"extra.txt": b"child only"})
    child = publish(c, unique(), content.files + extra.files, extra.pack,
                    parents=[parent["id"]])
    user = c.post(f"{API}/tasks", json={
        "project": "datasets", "name": "trainer",
        "hyperparams": [{"section": "Datasets", "name": "train", "value": parent["id"]}],
    }).json()

    resp = c.delete(f"{API}/datasets/{parent['id']}")
    assert resp.status_code == 409
    err = resp.json()["error"]
    assert child["id"] in err["message"] and user["id"] in err["message"]
    assert err["details"] == {"versions": [child["id"]], "tasks": [user["id"]]}
    assert c.get(f"{API}/datasets/{parent['id']}").status_code == 200

    assert c.delete(f"{API}/datasets/{parent['id']}", params={"force": True}).status_code == 204
    assert c.get(f"{API}/datasets/{parent['id']}").status_code == 404
    assert c.get(f"{API}/tasks/{parent['id']}").status_code == 404
    assert c.get(f"{API}/tasks/{user['id']}").status_code == 200
    # the child's manifest is complete: its data outlives the parent
    kept = c.get(f"{API}/datasets/{child['id']}").json()
    assert kept["parents"] == []
    assert sorted(manifest(c, child["id"])) == ["base.txt", "extra.txt"]
    assert missing(c, content.pack.pieces) == []
    assert pack_stored(server, content.pack.hash)

    # nothing depends on the child: it goes at once, with its dataset
    assert c.delete(f"{API}/datasets/{child['id']}").status_code == 204
    assert c.get(f"{API}/datasets", params={"name": child["name"]}).json() == []


def test_deleting_a_draft_frees_its_manifest_blob(server, c):
    content = build({"only.txt": os.urandom(64)})
    v = create(c, unique())
    upload(c, content.pack)
    h = put_manifest(c, v["id"], content.files)["manifest_hash"]
    assert server.services.store.exists(h)
    assert c.delete(f"{API}/datasets/{v['id']}").status_code == 204
    assert not server.services.store.exists(h)


def test_datasets_show_in_task_listing_with_their_tag(c):
    content = build({"t": b"tagged"})
    name = unique()
    v = publish(c, name, content.files, content.pack, tags=["mine"])
    page = c.get(f"{API}/tasks", params={"project": "datasets", "tag": "dataset",
                                         "name": name}).json()
    assert [t["id"] for t in page["items"]] == [v["id"]]
    assert set(page["items"][0]["tags"]) == {"dataset", "mine"}


def test_finalize_refuses_when_a_pack_is_lost(server, c):
    content = build({"lost": os.urandom(3000)})
    v = create(c, unique())
    upload(c, content.pack)
    put_manifest(c, v["id"], content.files)
    server.services.store.delete(content.pack.hash)  # storage lost it behind our back
    resp = c.post(f"{API}/datasets/{v['id']}/finalize")
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["details"]["missing_blobs"] == [content.pack.hash]
    assert c.get(f"{API}/datasets/{v['id']}").json()["state"] == "draft"
    upload(c, content.pack)  # sending the pack again repairs it
    assert finalize(c, v["id"])["state"] == "final"


def test_project_filter_includes_subprojects(c: httpx.Client):
    content = build({"p": b"p"})
    root = unique("proj")
    top = publish(c, unique(), content.files, content.pack, project=root)
    sub = publish(c, unique(), content.files, None, project=f"{root}/sub")
    listed = c.get(f"{API}/datasets", params={"project": root}).json()
    assert {d["id"] for d in listed} == {top["id"], sub["id"]}
    only_sub = c.get(f"{API}/datasets", params={"project": f"{root}/sub"}).json()
    assert [d["id"] for d in only_sub] == [sub["id"]]

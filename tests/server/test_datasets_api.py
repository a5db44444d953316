"""The datasets HTTP API through a live server (SQLite and PostgreSQL): versions, manifests,
packs and byte ranges, and every bad input the contract names: each answered with its status
and JSON error, with nothing stored. Then pack upload and ranged reads with the blobs in S3
(moto's server)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import httpx
import pytest
from moto.server import ThreadedMotoServer
from tests.conftest import LiveServer, free_port, start_server
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

from arno.blobstore import hash_bytes
from arno.core.dataset_schemas import EMPTY_HASH
from arno.core.packs import FOOTER, PackWriter, decode_member


@pytest.fixture(scope="module")
def c(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text[:500]
    err = resp.json()["error"]
    if code is not None:
        assert err["code"] == code, err
    return err


# ---- versions ----------------------------------------------------------------------------------


def test_version_round_trip(c):
    name = unique()
    content = build({"a.csv": b"x,y\n1,2\n", "img/b.bin": os.urandom(150_000), "empty": b""})
    v = create(c, name, tags=["raw", "raw", " v1 "], description="first cut")
    assert v["state"] == "draft" and v["version"] == "1.0.0"
    assert v["tags"] == ["raw", "v1"] and v["description"] == "first cut"
    assert v["parents"] == [] and v["manifest_hash"] is None
    task = c.get(f"{API}/tasks/{v['id']}").json()
    assert task["type"] == "data_processing" and task["name"] == name
    assert "dataset" in task["tags"] and task["status"] == "created"

    assert missing(c, content.pack.pieces) == content.pack.pieces
    upload(c, content.pack)
    assert missing(c, content.pack.pieces) == []
    out = put_manifest(c, v["id"], content.files)
    assert out["stats"]["file_count"] == 3 and out["stats"]["added_files"] == 3
    assert out["stats"]["total_size"] == 8 + 150_000
    assert out["stats"]["new_stored_bytes"] == len(content.pack.data)
    assert manifest(c, v["id"]) == content.by_path()

    final = finalize(c, v["id"])
    assert final["state"] == "final" and final["finalized_at"]
    assert c.get(f"{API}/tasks/{v['id']}").json()["status"] == "completed"
    assert c.get(f"{API}/datasets/{v['id']}").json() == final

    child = create(c, name, parents=[v["id"]])
    assert child["version"] == "1.0.1" and child["parents"] == [v["id"]]
    assert child["stats"]["file_count"] == 3 and child["stats"]["added_files"] == 0
    assert manifest(c, child["id"]) == content.by_path()  # nothing PUT yet: the parent's files
    sibling = create(c, name, parents=[v["id"]])
    assert sibling["version"] == "1.0.2"  # the next free one

    listed = c.get(f"{API}/datasets", params={"name": name}).json()
    assert [d["id"] for d in listed] == [sibling["id"], child["id"], v["id"]]
    only = c.get(f"{API}/datasets", params={"name": name, "only_final": True}).json()
    assert [d["id"] for d in only] == [v["id"]]
    tagged = c.get(f"{API}/datasets", params={"project": "datasets", "tags": ["raw", "v1"]})
    assert [d["id"] for d in tagged.json()] == [v["id"]]
    part = c.get(f"{API}/datasets", params={"partial_name": name[3:].upper()}).json()
    assert {d["id"] for d in part} == {v["id"], child["id"], sibling["id"]}
    by_ids = c.get(f"{API}/datasets", params={"ids": f"{v['id']},{child['id']}"}).json()
    assert {d["id"] for d in by_ids} == {v["id"], child["id"]}


def test_create_refuses_bad_parents_and_taken_versions(c):
    name = unique()
    draft = create(c, name, version="2.0")
    unknown = "0" * 32
    err = _error(c.post(f"{API}/datasets", json={"name": name, "project": "datasets",
                                                  "parents": [unknown]}), 404, "not_found")
    assert unknown in err["message"]
    err = _error(c.post(f"{API}/datasets", json={"name": name, "project": "datasets",
                                                  "parents": [draft["id"]]}), 409, "conflict")
    assert err["message"] == f"parent {draft['id']} is not finalized"
    _error(c.post(f"{API}/datasets", json={"name": name, "project": "datasets",
                                           "version": "2.0"}), 409, "conflict")
    _error(c.post(f"{API}/datasets", json={"name": "", "project": "datasets"}), 422)
    _error(c.post(f"{API}/datasets", json={"name": name, "project": "datasets",
                                           "tags": [""]}), 422)
    listed = c.get(f"{API}/datasets", params={"name": name}).json()
    assert [d["id"] for d in listed] == [draft["id"]]  # nothing else was created
    assert c.get(f"{API}/datasets", params={"name": name}).json()[0]["version"] == "2.0"
    nxt = create(c, name)
    assert nxt["version"] == "2.1"  # no parents: after the dataset's highest version


def test_unknown_version_is_404_everywhere(c):
    vid = "f" * 32
    for method, path in [("GET", ""), ("GET", "/manifest"), ("GET", "/diff"),
                         ("GET", "/files"), ("POST", "/finalize"), ("DELETE", "")]:
        _error(c.request(method, f"{API}/datasets/{vid}{path}"), 404, "not_found")
    _error(c.put(f"{API}/datasets/{vid}/manifest", json={"files": []}), 404, "not_found")
    _error(c.get(f"{API}/datasets/not-an-id"), 404, "not_found")


# ---- manifests ---------------------------------------------------------------------------------

BAD_PATHS = ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a//b", "a/./b", "a\\b",
             "nul\x00.txt", "", ".", "dir/", "..", "C:/x", "c:x", "a/D:/b", "x" * 4097]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_paths_are_refused_and_nothing_is_stored(c, bad):
    content = build({"ok.txt": b"fine"})
    v = create(c, unique())
    upload(c, content.pack)
    before = put_manifest(c, v["id"], content.files)
    h = hash_bytes(b"fine")
    files = content.files + [{"path": bad, "size": 4, "hash": h, "pieces": [h]}]
    err = _error(c.put(f"{API}/datasets/{v['id']}/manifest", json={"files": files}), 422,
                 "invalid_input")
    assert "path" in err["message"]
    assert c.get(f"{API}/datasets/{v['id']}").json() == before
    assert manifest(c, v["id"]) == content.by_path()


def test_inconsistent_manifests_are_refused(c):
    content = build({"a": b"alpha", "b": os.urandom(200_000)})
    v = create(c, unique())
    upload(c, content.pack)
    a, b = content.files
    cases = [
        [a, dict(a)],  # the same path twice
        [{**a, "size": 6}],  # its pieces do not add up to its size
        [{**b, "pieces": b["pieces"][:1]}],
        [{"path": "e", "size": 0, "hash": a["hash"], "pieces": []}],  # empty, wrong hash
        [{"path": "e", "size": 3, "hash": a["hash"], "pieces": []}],  # bytes without pieces
        [{"path": "x", "size": 1, "hash": "zz", "pieces": []}],
        [{"path": "x", "size": 1, "hash": a["hash"], "pieces": ["nothex"]}],
        [{"path": "x", "size": -1, "hash": a["hash"], "pieces": a["pieces"]}],
        [{"path": "x", "size": 0, "uri": "no-scheme"}],
        [{**a, "extra": 1}],
    ]
    for files in cases:
        _error(c.put(f"{API}/datasets/{v['id']}/manifest", json={"files": files}), 422,
               "invalid_input")
    for body in (b"", b"not json", b'{"files": 3}'):
        _error(c.put(f"{API}/datasets/{v['id']}/manifest", content=body), 422)
    assert c.get(f"{API}/datasets/{v['id']}").json()["manifest_hash"] is None
    assert manifest(c, v["id"]) == {}


def test_external_and_empty_files(c):
    v = create(c, unique())
    files = [{"path": "ext/x.jpg", "size": 0, "uri": "s3://bucket/x.jpg"},
             {"path": "ext/y.jpg", "size": 10, "hash": "", "pieces": [],
              "uri": "https://example.com/y.jpg"},
             {"path": "empty", "size": 0, "hash": EMPTY_HASH, "pieces": []}]
    out = put_manifest(c, v["id"], files)
    assert out["stats"]["file_count"] == 3 and out["stats"]["new_stored_bytes"] == 0
    got = manifest(c, v["id"])
    assert got["ext/x.jpg"] == {"path": "ext/x.jpg", "size": 0, "hash": "", "pieces": [],
                                "uri": "s3://bucket/x.jpg"}
    assert "uri" not in got["empty"]
    assert finalize(c, v["id"])["state"] == "final"


def test_missing_pieces_are_named_and_nothing_is_stored(c):
    content = build({f"f{i}": os.urandom(100) for i in range(5)})
    v = create(c, unique())
    err = _error(c.put(f"{API}/datasets/{v['id']}/manifest", json={"files": content.files}),
                 409, "conflict")
    assert sorted(err["details"]["missing"]) == sorted(content.pack.pieces)
    assert c.get(f"{API}/datasets/{v['id']}").json()["manifest_hash"] is None
    upload(c, content.pack)  # resumed: the client sends the pack, then the manifest again
    assert put_manifest(c, v["id"], content.files)["stats"]["file_count"] == 5


def test_final_versions_are_immutable(c):
    content = build({"a": b"a"})
    v = publish(c, unique(), content.files, content.pack)
    err = _error(c.put(f"{API}/datasets/{v['id']}/manifest", json={"files": []}), 409,
                 "immutable")
    assert err["message"] == f"dataset version {v['id']} is finalized"
    _error(c.post(f"{API}/datasets/{v['id']}/finalize"), 409, "immutable")
    assert manifest(c, v["id"]) == content.by_path()


def test_nothing_to_finalize(c):
    v = create(c, unique())
    err = _error(c.post(f"{API}/datasets/{v['id']}/finalize"), 409, "conflict")
    assert "nothing to finalize" in err["message"]
    put_manifest(c, v["id"], [])
    _error(c.post(f"{API}/datasets/{v['id']}/finalize"), 409, "conflict")
    assert c.get(f"{API}/datasets/{v['id']}").json()["state"] == "draft"


def test_only_the_owner_changes_a_version(server, c):
    content = build({"a": b"owned"})
    v = create(c, unique())
    upload(c, content.pack)
    key, secret = server.user(unique("user"))
    with server.client(key, secret) as other:
        assert other.get(f"{API}/datasets/{v['id']}").status_code == 200
        _error(other.put(f"{API}/datasets/{v['id']}/manifest",
                         json={"files": content.files}), 403, "forbidden")
        _error(other.post(f"{API}/datasets/{v['id']}/finalize"), 403, "forbidden")
        _error(other.delete(f"{API}/datasets/{v['id']}"), 403, "forbidden")
        _error(other.post(f"{API}/datasets/gc"), 403, "forbidden")
    assert c.get(f"{API}/datasets/{v['id']}").json()["state"] == "draft"


# ---- packs and pieces ----------------------------------------------------------------------


def test_pack_upload_is_idempotent(c):
    content = build({f"p{i}": os.urandom(300) for i in range(4)})
    first = c.put(f"{API}/datasets/packs/{content.pack.hash}", content=content.pack.data)
    assert first.json() == {"hash": content.pack.hash, "size": len(content.pack.data),
                            "pieces": 4, "new_pieces": 4}
    again = c.put(f"{API}/datasets/packs/{content.pack.hash}", content=content.pack.data)
    assert again.status_code == 200 and again.json()["new_pieces"] == 0
    # a second pack holding a stored piece: that piece keeps its first home
    writer = PackWriter()
    old = os.urandom(50)
    writer.add(hash_bytes(old), old)
    other = build({"p0": b"fresh"})
    writer.add(other.files[0]["hash"], b"fresh")
    h, data, _ = writer.finish()
    resp = c.put(f"{API}/datasets/packs/{h}", content=data)
    assert resp.json()["pieces"] == 2 and resp.json()["new_pieces"] == 2
    located = c.post(f"{API}/datasets/pieces/locate",
                     json={"hashes": content.pack.pieces[:1] + [hash_bytes(old)]}).json()
    assert located["pieces"][content.pack.pieces[0]][0] == content.pack.hash
    assert located["pieces"][hash_bytes(old)][0] == h


def test_pack_named_by_the_wrong_hash_is_refused(server, c):
    content = build({"w": os.urandom(1000)})
    wrong = hash_bytes(b"another pack")
    err = _error(c.put(f"{API}/datasets/packs/{wrong}", content=content.pack.data), 422,
                 "invalid_input")
    assert err["details"] == {"expected": wrong, "actual": content.pack.hash}
    assert missing(c, content.pack.pieces) == content.pack.pieces
    assert not pack_stored(server, wrong) and not pack_stored(server, content.pack.hash)
    assert not server.services.store.exists(content.pack.hash)
    _error(c.get(f"{API}/datasets/packs/{wrong}"), 404, "not_found")
    _error(c.put(f"{API}/datasets/packs/not-a-hash", content=b"x"), 422, "invalid_input")


def test_corrupted_member_is_refused(server, c):
    good, bad_data = os.urandom(5000), os.urandom(5000)
    writer = PackWriter()
    writer.add(hash_bytes(good), good, compress=False)
    writer.add(hash_bytes(bad_data), bad_data, compress=False)
    _, data, members = writer.finish()
    damaged = bytearray(data)
    damaged[members[1].offset + 100] ^= 0xFF  # flip a byte inside the second member
    damaged = bytes(damaged)
    h = hash_bytes(damaged)  # named by its own bytes: only the member check can catch it
    err = _error(c.put(f"{API}/datasets/packs/{h}", content=damaged), 422, "invalid_input")
    assert hash_bytes(bad_data) in err["message"]
    assert err["details"] == {"piece": hash_bytes(bad_data)}
    assert not pack_stored(server, h) and not server.services.store.exists(h)
    assert not list((server.home / "tmp").glob("upload-*"))
    assert missing(c, [hash_bytes(good), hash_bytes(bad_data)]) == [hash_bytes(good),
                                                                   hash_bytes(bad_data)]


def test_malformed_packs_are_refused(c):
    writer = PackWriter()
    writer.add(hash_bytes(b"x" * 100), b"x" * 100)
    _, data, _ = writer.finish()
    for body in (b"", b"short", os.urandom(4096), data[:-1] + b"!",
                 data[: len(data) - FOOTER.size - 3] + data[-FOOTER.size:]):
        err = _error(c.put(f"{API}/datasets/packs/{hash_bytes(body)}", content=body), 422,
                     "invalid_input")
        assert "not a pack" in err["message"]
    _, empty, _ = PackWriter().finish()
    err = _error(c.put(f"{API}/datasets/packs/{hash_bytes(empty)}", content=empty), 422)
    assert "no pieces" in err["message"]


def test_piece_queries_refuse_bad_hashes(c):
    _error(c.post(f"{API}/datasets/pieces/missing", json={"hashes": ["abc"]}), 422)
    _error(c.post(f"{API}/datasets/pieces/missing", json={"hashes": ["a" * 64] * 100_001}),
           422)
    unknown = hash_bytes(b"never stored anywhere")
    err = _error(c.post(f"{API}/datasets/pieces/locate", json={"hashes": [unknown]}), 404,
                 "not_found")
    assert unknown in err["message"]


def test_range_reads_one_member(c):
    sizes = [70_000, 3_000, 120_000]
    blobs = [os.urandom(n) for n in sizes]
    writer = PackWriter()
    for b in blobs:
        writer.add(hash_bytes(b), b)
    h, data, members = writer.finish()
    assert c.put(f"{API}/datasets/packs/{h}", content=data).status_code == 200
    m = members[1]
    resp = c.get(f"{API}/datasets/packs/{h}",
                 headers={"range": f"bytes={m.offset}-{m.offset + m.length - 1}"})
    assert resp.status_code == 206
    assert resp.headers["content-range"] == f"bytes {m.offset}-{m.offset + m.length - 1}/" \
                                            f"{len(data)}"
    assert decode_member(resp.content, m.hash, m.size) == blobs[1]
    whole = c.get(f"{API}/datasets/packs/{h}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    tail = c.get(f"{API}/datasets/packs/{h}", headers={"range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == data[-16:]
    rest = c.get(f"{API}/datasets/packs/{h}", headers={"range": f"bytes={members[2].offset}-"})
    assert rest.status_code == 206 and rest.content == data[members[2].offset:]
    err = _error(c.get(f"{API}/datasets/packs/{h}",
                       headers={"range": f"bytes={len(data)}-"}), 416)
    assert err["code"] == "range_not_satisfiable"


def test_pack_uploads_have_the_upload_limit(tmp_path):
    small = build({"s": os.urandom(30_000)})  # over the JSON body limit, under the upload one
    big = build({"b": os.urandom(150_000)})
    for live in start_server(tmp_path, None, "sqlite", max_body_bytes=10_000,
                             max_upload_bytes=100_000):
        with live.client() as c:
            upload(c, small.pack)
            err = _error(c.put(f"{API}/datasets/packs/{big.pack.hash}", content=big.pack.data),
                         413, "payload_too_large")
            assert "100000" in err["message"]
            assert missing(c, big.pack.pieces) == big.pack.pieces
            assert not live.services.store.exists(big.pack.hash)
            assert not list((tmp_path / "tmp").glob("upload-*"))  # no half upload left


# ---- the same with the blobs in S3 -----------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory) -> Iterator[LiveServer]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "testing",
               "secret": "testing", "client_kwargs": {"region_name": "us-east-1"}}
    try:
        yield from start_server(tmp_path_factory.mktemp("s3-datasets"), None, "sqlite",
                                storage_url="s3://arno-datasets/store",
                                storage_options=options)
    finally:
        moto.stop()


def test_s3_packs_and_ranges(s3_server):
    content = build({"big.bin": os.urandom(200_000), "small.txt": b"hello s3"})
    with s3_server.client() as c:
        v = publish(c, unique(), content.files, content.pack)
        assert v["state"] == "final"
        pack = content.pack
        assert c.get(f"{API}/datasets/packs/{pack.hash}").content == pack.data
        located = c.post(f"{API}/datasets/pieces/locate", json={"hashes": pack.pieces}).json()
        for piece, (pack_hash, offset, length, size) in located["pieces"].items():
            assert pack_hash == pack.hash
            resp = c.get(f"{API}/datasets/packs/{pack.hash}",
                         headers={"range": f"bytes={offset}-{offset + length - 1}"})
            assert resp.status_code == 206
            decode_member(resp.content, piece, size)
        assert manifest(c, v["id"]) == content.by_path()
    assert not (s3_server.home / "files" / "blobs").exists() or not any(
        p.is_file() for p in (s3_server.home / "files" / "blobs").rglob("*"))


def test_dataset_versions_stay_out_of_the_task_list_unless_asked_for(c):
    name = unique()
    content = build({"a.txt": b"alpha"})
    version = publish(c, name, content.files, content.pack, project=f"{name}-proj")
    plain = c.post(f"{API}/tasks", json={"project": f"{name}-proj", "name": "train"}).json()
    listed = c.get(f"{API}/tasks", params={"project": f"{name}-proj"}).json()["items"]
    assert [t["id"] for t in listed] == [plain["id"]]
    both = c.get(f"{API}/tasks", params={"project": f"{name}-proj",
                                         "include_datasets": "true"}).json()["items"]
    assert {t["id"] for t in both} == {plain["id"], version["id"]}
    typed = c.get(f"{API}/tasks", params={"project": f"{name}-proj",
                                          "type": "data_processing"}).json()["items"]
    assert version["id"] in {t["id"] for t in typed}


def test_a_version_cannot_be_deleted_as_a_plain_task(c):
    name = unique()
    content = build({"a.txt": b"kept"})
    v1 = publish(c, name, content.files, content.pack)
    v2 = publish(c, name, content.files, None, parents=[v1["id"]])
    r = c.delete(f"{API}/tasks/{v1['id']}")
    assert r.status_code == 409 and "arno data delete" in r.json()["error"]["message"]
    assert c.get(f"{API}/datasets/{v1['id']}").status_code == 200
    assert c.get(f"{API}/datasets/{v2['id']}").json()["parents"] == [v1["id"]]


# ---- renaming and moving a dataset, a draft's version string ----------------------------------


def _versions(c, project, name):
    resp = c.get(f"{API}/datasets", params={"project": project, "name": name})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_rename_and_move_change_every_version(server, c):
    key, secret = server.user(unique("owner"))
    name, project = unique(), unique("proj")
    with server.client(key, secret) as owner:
        first = create(owner, name, project=project)
        content = build({"a": b"first"})
        upload(owner, content.pack)
        put_manifest(owner, first["id"], content.files)
        finalize(owner, first["id"])
        second = create(owner, name, project=project, parents=[first["id"]])

        new_name = unique("renamed")
        out = owner.patch(f"{API}/datasets/{second['id']}/dataset", json={"name": new_name})
        assert out.status_code == 200, out.text
        assert out.json()["name"] == new_name and out.json()["id"] == second["id"]
        assert _versions(owner, project, name) == []
        got = _versions(owner, project, new_name)
        assert {v["id"] for v in got} == {first["id"], second["id"]}
        assert owner.get(f"{API}/tasks/{first['id']}").json()["name"] == new_name

        moved = unique("moved") + "/sub"
        out = owner.patch(f"{API}/datasets/{first['id']}/dataset", json={"project": moved})
        assert out.status_code == 200, out.text
        assert out.json()["project"] == moved and out.json()["state"] == "final"
        assert {v["id"] for v in _versions(owner, moved, new_name)} == {first["id"],
                                                                       second["id"]}
        task = owner.get(f"{API}/tasks/{second['id']}").json()
        assert task["project"] == moved
        # the same dataset name again: still one dataset, its versions continue
        third = create(owner, new_name, project=moved)
        assert third["dataset_id"] == first["dataset_id"] and third["version"] == "1.0.2"


def test_a_drafts_version_string_changes_a_finals_does_not(c):
    name = unique()
    v = create(c, name)
    out = c.patch(f"{API}/datasets/{v['id']}/dataset", json={"version": "2.0"})
    assert out.status_code == 200 and out.json()["version"] == "2.0"
    other = create(c, name, version="3.0")
    err = _error(c.patch(f"{API}/datasets/{other['id']}/dataset", json={"version": "2.0"}),
                 409, "conflict")
    assert "already has version 2.0" in err["message"]
    content = build({"a": b"v"})
    upload(c, content.pack)
    put_manifest(c, v["id"], content.files)
    finalize(c, v["id"])
    err = _error(c.patch(f"{API}/datasets/{v['id']}/dataset", json={"version": "2.1"}), 409)
    assert "finalized" in err["message"]
    # the same string is no change, final or not
    assert c.patch(f"{API}/datasets/{v['id']}/dataset", json={"version": "2.0"}).status_code == 200
    assert c.get(f"{API}/datasets/{v['id']}").json()["version"] == "2.0"


def test_rename_onto_a_taken_name_is_409(c):
    project = unique("proj")
    a, b = create(c, unique(), project=project), create(c, unique(), project=project)
    err = _error(c.patch(f"{API}/datasets/{a['id']}/dataset", json={"name": b["name"]}),
                 409, "conflict")
    assert b["name"] in err["message"] and project in err["message"]
    elsewhere = create(c, a["name"], project=unique("proj"))
    err = _error(c.patch(f"{API}/datasets/{elsewhere['id']}/dataset",
                         json={"project": project}), 409, "conflict")
    assert a["name"] in err["message"]
    assert c.get(f"{API}/datasets/{a['id']}").json()["name"] == a["name"]
    assert c.get(f"{API}/datasets/{elsewhere['id']}").json()["project"] != project


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "   "}, {"name": "x" * 513}, {"project": ""},
    {"version": ""}, {"version": "v" * 65}, {"name": 3}, {"colour": "red"}, [], "text",
])
def test_bad_changes_are_422(c, body):
    v = create(c, unique())
    resp = c.patch(f"{API}/datasets/{v['id']}/dataset", json=body)
    _error(resp, 422)
    resp = c.patch(f"{API}/datasets/{v['id']}/dataset", content=b"{not json",
                   headers={"content-type": "application/json"})
    _error(resp, 422)
    assert c.get(f"{API}/datasets/{v['id']}").json()["name"] == v["name"]


def test_change_of_an_unknown_version_is_404(c):
    _error(c.patch(f"{API}/datasets/{'0' * 32}/dataset", json={"name": "x"}), 404)
    _error(c.patch(f"{API}/datasets/nope/dataset", json={"name": "x"}), 404)


def test_who_may_rename_a_dataset(server):
    key, secret = server.user(unique("owner"))
    okey, osecret = server.user(unique("other"))
    akey, asecret = server.user(unique("admin"), role="admin")
    with server.client(key, secret) as owner, server.client(okey, osecret) as other, \
            server.client(akey, asecret) as admin, \
            httpx.Client(base_url=server.url, timeout=30) as nobody:
        v = create(owner, unique())
        url = f"{API}/datasets/{v['id']}/dataset"
        _error(nobody.patch(url, json={"name": unique()}), 401)
        _error(other.patch(url, json={"name": unique()}), 403, "forbidden")
        _error(other.patch(url, json={"version": "9.9"}), 403, "forbidden")
        assert owner.get(f"{API}/datasets/{v['id']}").json()["name"] == v["name"]
        mine = unique()
        assert owner.patch(url, json={"name": mine}).json()["name"] == mine
        theirs = unique()
        assert admin.patch(url, json={"name": theirs, "version": "5.0"}).json()["name"] == theirs
        # a version by another user in the dataset: only an admin renames it all
        foreign = create(other, theirs, project=v["project"])
        _error(owner.patch(url, json={"name": unique()}), 403, "forbidden")
        assert admin.patch(url, json={"name": mine}).status_code == 200
        assert other.get(f"{API}/datasets/{foreign['id']}").json()["name"] == mine

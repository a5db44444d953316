"""Garbage collection of dataset packs through the live server (SQLite and PostgreSQL): a pack
another version refers to survives, a pack uploaded moments ago survives its grace period, an
old pack nothing refers to goes with its blob, and a blob an artifact names is never taken.
Then the hot paths at 10k files: ``pieces/missing`` and a manifest PUT."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from tests.conftest import LiveServer
from tests.services.dataset_helpers import (
    API,
    age_packs,
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
from arno.core.packs import PackWriter


@pytest.fixture(scope="module")
def c(server: LiveServer):
    with server.client() as client:
        yield client


def _gc(c) -> dict:
    resp = c.post(f"{API}/datasets/gc")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_referenced_pack_survives_and_unreferenced_old_pack_goes(server, c):
    name = unique()
    base = build({"a.txt": os.urandom(500)})
    v1 = publish(c, name, base.files, base.pack)
    more = build({"b.txt": os.urandom(700)})
    v2 = publish(c, name, base.files + more.files, more.pack, parents=[v1["id"]])
    assert c.delete(f"{API}/datasets/{v2['id']}").status_code == 204
    # still young: deleting v2 collected nothing
    assert pack_stored(server, more.pack.hash) and pack_stored(server, base.pack.hash)

    age_packs(server, [base.pack.hash, more.pack.hash])
    result = _gc(c)
    assert result["packs_deleted"] >= 1 and result["bytes_freed"] >= len(more.pack.data)
    assert not pack_stored(server, more.pack.hash)
    assert not server.services.store.exists(more.pack.hash)  # the blob went with the row
    assert missing(c, more.pack.pieces) == more.pack.pieces  # and its pieces
    assert c.get(f"{API}/datasets/packs/{more.pack.hash}").status_code == 404
    assert pack_stored(server, base.pack.hash)  # v1 still refers to it
    assert missing(c, base.pack.pieces) == []


def test_deleting_the_last_version_collects_its_old_packs(server, c):
    content = build({"gone.bin": os.urandom(4000)})
    v = publish(c, unique(), content.files, content.pack)
    age_packs(server, [content.pack.hash])
    assert c.delete(f"{API}/datasets/{v['id']}").status_code == 204
    assert not pack_stored(server, content.pack.hash)
    assert not server.services.store.exists(content.pack.hash)


def test_fresh_unreferenced_pack_survives(server, c):
    content = build({"fresh.bin": os.urandom(900)})
    upload(c, content.pack)  # uploaded, not yet named by any manifest
    _gc(c)
    assert pack_stored(server, content.pack.hash)
    assert missing(c, content.pack.pieces) == []
    # sending an old pack again makes it young: a client is about to name it
    age_packs(server, [content.pack.hash])
    upload(c, content.pack)
    _gc(c)
    assert pack_stored(server, content.pack.hash)
    age_packs(server, [content.pack.hash])
    _gc(c)
    assert not pack_stored(server, content.pack.hash)


def test_blob_named_by_an_artifact_is_kept(server, c):
    content = build({"shared.bin": os.urandom(800)})
    upload(c, content.pack)
    task = c.post(f"{API}/tasks", json={"project": "datasets", "name": "keeper"}).json()
    resp = c.put(f"{API}/tasks/{task['id']}/artifacts/pack", json={"hash": content.pack.hash})
    assert resp.status_code == 200, resp.text
    age_packs(server, [content.pack.hash])
    _gc(c)
    assert server.services.store.exists(content.pack.hash)


def test_manifest_put_after_collection_asks_for_the_pack_again(server, c):
    content = build({"late.bin": os.urandom(1200)})
    upload(c, content.pack)
    age_packs(server, [content.pack.hash])
    _gc(c)
    v = create(c, unique())
    resp = c.put(f"{API}/datasets/{v['id']}/manifest", json={"files": content.files})
    assert resp.status_code == 409
    assert resp.json()["error"]["details"]["missing"] == content.pack.pieces
    upload(c, content.pack)
    put_manifest(c, v["id"], content.files)


def test_collection_during_an_upload_takes_nothing_of_it(server, c, monkeypatch):
    """A GC pass runs while a version's packs are being uploaded (the ingest of the third of
    five new packs waits until that pass is over), and passes go on
    until the version is final. Nothing of the upload in flight is collected (its new packs,
    and an old pack it sends again), the manifest PUT and finalize succeed, while an old
    orphan is collected by those same passes (they did run)."""
    again = build({"again.bin": os.urandom(2500)})
    upload(c, again.pack)
    orphan = build({"orphan.bin": os.urandom(1500)})
    upload(c, orphan.pack)
    age_packs(server, [again.pack.hash, orphan.pack.hash])
    parts = [build({f"part{i}.bin": os.urandom(3000 + i)}) for i in range(5)]
    sent = [again, *parts]

    barrier = threading.Barrier(2, timeout=60)
    ingest = server.services.dataset_packs.ingest
    held = parts[2].pack.hash

    first_pass = threading.Event()

    def ingest_meeting_gc(h, path, size):
        if h == held:
            barrier.wait()  # the collector starts its first pass now,
            first_pass.wait(60)  # and this pack is stored only once that pass is done
        return ingest(h, path, size)

    monkeypatch.setattr(server.services.dataset_packs, "ingest", ingest_meeting_gc)
    finished = threading.Event()
    passes: list[dict] = []
    errors: list[BaseException] = []

    def collector() -> None:
        try:
            barrier.wait()
            with server.client() as gc_client:
                passes.append(_gc(gc_client))  # the upload is surely in flight: held above
                first_pass.set()
                while not finished.is_set() and len(passes) < 500:
                    passes.append(_gc(gc_client))
                passes.append(_gc(gc_client))  # and once more with the version final
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=collector, name="gc-during-upload")
    thread.start()
    try:
        v = create(c, unique())
        for content in sent:
            upload(c, content.pack)
        put_manifest(c, v["id"], [f for content in sent for f in content.files])
        final = finalize(c, v["id"])
    finally:
        finished.set()
        thread.join(timeout=120)
    assert not errors, errors
    assert not thread.is_alive()
    assert len(passes) >= 2 and sum(p["packs_deleted"] for p in passes) >= 1
    assert not pack_stored(server, orphan.pack.hash)
    for content in sent:
        assert pack_stored(server, content.pack.hash)
        assert missing(c, content.pack.pieces) == []
    assert final["stats"]["file_count"] == len(sent)
    got = manifest(c, v["id"])
    assert {p: f["hash"] for p, f in got.items()} == {
        f["path"]: f["hash"] for content in sent for f in content.files}


# ---- the hot paths at 10k files -----------------------------------------------------------


@contextmanager
def statements(server: LiveServer) -> Iterator[list[str]]:
    """The SQL statements the server runs meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *_rest) -> None:
        seen.append(statement)

    engines = {server.services.db.engine, server.services.db.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def _timed(call, runs: int = 5) -> float:
    """Median wall time of ``call`` in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        resp = call()
        times.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 200, resp.text[:500]
    return statistics.median(times)


def test_ten_thousand_files(server, c):
    writer = PackWriter()
    files = []
    for i in range(10_000):
        data = os.urandom(200) + i.to_bytes(4, "little")
        h = hash_bytes(data)
        writer.add(h, data, compress=False)
        files.append({"path": f"data/d{i % 100:02d}/f{i:05d}.bin", "size": len(data),
                      "hash": h, "pieces": [h]})
    pack_hash, pack, _ = writer.finish()
    resp = c.put(f"{API}/datasets/packs/{pack_hash}", content=pack)
    assert resp.json()["new_pieces"] == 10_000
    v = create(c, unique())
    hashes = json.dumps({"hashes": [f["hash"] for f in files]}).encode()
    body = json.dumps({"files": files}).encode()
    headers = {"content-type": "application/json"}
    with statements(server) as sql_missing:
        ms_missing = _timed(lambda: c.post(f"{API}/datasets/pieces/missing", content=hashes,
                                           headers=headers))
    with statements(server) as sql_put:
        ms_put = _timed(lambda: c.put(f"{API}/datasets/{v['id']}/manifest", content=body,
                                      headers=headers))
    print(f"\n[{server.backend}] 10k files: pieces/missing {ms_missing:.0f} ms "
          f"({len(sql_missing) / 5:.0f} SQL statements), manifest PUT {ms_put:.0f} ms "
          f"({len(sql_put) / 5:.0f} SQL statements)")
    # the work is done in batches, not a statement per file (10k); the speed itself is a
    # figure of bench/bench_datasets.py, a wall-clock bound here would only catch a busy machine
    assert len(sql_missing) / 5 < 200 and len(sql_put) / 5 < 500, (len(sql_missing),
                                                                    len(sql_put))
    out = c.get(f"{API}/datasets/{v['id']}").json()
    assert out["stats"]["file_count"] == 10_000 and out["stats"]["added_files"] == 10_000
    assert c.post(f"{API}/datasets/{v['id']}/finalize").status_code == 200
    child = create(c, out["name"], parents=[v["id"]])
    changed = [dict(f) for f in files]
    for f in changed[:100]:
        f["size"], f["hash"], f["pieces"] = 0, hash_bytes(b""), []
    st = put_manifest(c, child["id"], changed[:-50])["stats"]
    assert (st["modified_files"], st["removed_files"], st["added_files"]) == (100, 50, 0)



def test_the_server_collects_orphan_packs_on_its_own(tmp_path) -> None:
    """A pack uploaded and never named by a manifest (an upload abandoned half way) is
    deleted by the server's periodic pass once past its grace period, without anyone asking."""
    from tests.conftest import start_server

    gen = start_server(tmp_path, None, "sqlite", dataset_gc_grace_seconds=0.5,
                       dataset_gc_interval=1.0, reaper_interval=0.2)
    live = next(gen)
    try:
        with live.client() as client:
            orphan = build({"lost.bin": os.urandom(2000)})
            upload(client, orphan.pack)
            assert pack_stored(live, orphan.pack.hash)
            deadline = time.monotonic() + 15
            while pack_stored(live, orphan.pack.hash) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not pack_stored(live, orphan.pack.hash)
            assert not live.services.store.exists(orphan.pack.hash)
    finally:
        gen.close()

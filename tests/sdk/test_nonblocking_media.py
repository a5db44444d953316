"""Images, media and artifacts never make a training loop wait: against a real ``arno server``
process that is killed for several seconds mid-loop and started again, every call returns at
once, and afterwards every scalar, image, media sample and artifact is on the server, in
order. What a process leaves in the spool when it ends during an outage is delivered by
``arno spool send``."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from blake3 import blake3
from tests.processes import REPO, ServerProcess

from arno.client import ApiSession, Reporter
from arno.core.errors import ServerUnavailable
from arno.sdk._artifacts import upload_artifact
from arno.sdk._images import encode_image
from arno.sdk._logger import Logger

SLOW_CALL = 0.05
"""No report call may take longer than this (seconds), server up or down."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("nonblocking") / "server-home")
    srv.start()
    yield srv
    srv.stop()


def _up(server: ServerProcess) -> None:
    if not server.alive():
        server.start()


def _session(server: ServerProcess, **kwargs) -> ApiSession:
    key, secret = server.credentials()
    return ApiSession(server.url, key, secret, **kwargs)


def _new_task(session: ApiSession, name: str) -> str:
    return session.post("tasks", {"project": "nonblocking", "name": name,
                                  "status": "in_progress"})["id"]


def _image(i: int) -> np.ndarray:
    return np.full((8, 8, 3), i, dtype=np.uint8)


def test_a_loop_never_waits_while_the_server_is_down_and_nothing_is_lost(server, tmp_path):
    _up(server)
    session = _session(server, retries=1)
    task_id = _new_task(session, "outage")
    reporter = Reporter(session, task_id, spool_dir=tmp_path / "spool", flush_interval=0.1)
    reporter.start()
    log = Logger(reporter, session)
    n, down_at, up_at = 60, 15, 45
    durations: list[tuple[float, str, tuple]] = []

    def timed(call, *args, **kwargs):
        started = time.perf_counter()
        call(*args, **kwargs)
        durations.append((time.perf_counter() - started, call.__name__, args[:3]))

    encode_image(_image(0))  # Pillow's first import (~0.2 s once) is not a wait on the server

    restart: threading.Thread | None = None
    try:
        for i in range(n):
            if i == down_at:
                server.kill()  # a crash: the loop goes on
            if i == up_at:
                restart = threading.Thread(target=server.start)
                restart.start()
            timed(log.report_scalar, "loss", "train", 1.0 / (i + 1), i)
            timed(log.report_image, "digits", "input", iteration=i, image=_image(i))
            timed(log.report_media, "notes", "text", iteration=i,
                  stream=io.StringIO(f"iteration {i}"), file_extension=".txt")
            if i % 10 == 0:
                timed(upload_artifact, session, task_id, f"state-{i:02d}", np.arange(4) * i,
                      reporter=reporter, wait_on_upload=False)
            time.sleep(0.1)  # a training step: the server is away about 3 s of them
        assert restart is not None
        restart.join(timeout=60)
        assert server.alive()
        assert reporter.flush(wait=True, timeout=120) is True
    finally:
        reporter.close()
    slowest = max(durations)
    assert slowest[0] < SLOW_CALL, f"a report call took {slowest[0] * 1000:.1f} ms: {slowest}"

    api = _session(server)
    scalars = api.get(f"tasks/{task_id}/scalars")
    assert scalars[0]["x"] == list(range(n))
    samples = sorted(api.get(f"tasks/{task_id}/debug_samples"), key=lambda s: s["id"])
    images = [s for s in samples if s["metric"] == "digits"]
    notes = [s for s in samples if s["metric"] == "notes"]
    assert [s["iteration"] for s in images] == list(range(n))  # stored in the order reported
    assert [s["iteration"] for s in notes] == list(range(n))
    for s in images:  # every blob arrived, with the bytes reported
        assert s["hash"] == blake3(encode_image(_image(s["iteration"]))[0]).hexdigest()
        assert api.get_bytes(f"blobs/{s['hash']}")[1].startswith(b"\x89PNG")
    for s in notes:
        assert api.get_bytes(f"blobs/{s['hash']}")[1] == f"iteration {s['iteration']}".encode()
    arts = {a["name"]: a for a in api.get(f"tasks/{task_id}/artifacts")}
    assert sorted(arts) == [f"state-{i:02d}" for i in range(0, n, 10)]
    for name, art in arts.items():
        local = tmp_path / f"{name}.npy"
        api.download_blob(art["hash"], local)
        assert np.load(local).tolist() == (np.arange(4) * int(name[-2:])).tolist()
    assert not (tmp_path / "spool" / task_id).exists()  # nothing left behind
    api.close()
    session.close()


def test_a_process_ending_during_an_outage_leaves_it_for_arno_spool_send(server, tmp_path):
    _up(server)
    home = tmp_path / "client-home"
    session = _session(server, retries=0)
    task_id = _new_task(session, "left behind")
    reporter = Reporter(session, task_id, spool_dir=home / "spool", flush_interval=0.1)
    reporter.start()
    log = Logger(reporter, session)
    server.kill()
    for i in range(3):
        log.report_image("digits", "input", iteration=i, image=_image(i))
        log.report_scalar("loss", "train", float(i), i)
    upload_artifact(session, task_id, "table", {"rows": 3}, reporter=reporter,
                    wait_on_upload=False)
    assert reporter.flush(wait=True, timeout=30) is False  # spooled: the server is away
    reporter.close(timeout=5)
    session.close()
    left = sorted(p.suffix for p in (home / "spool" / task_id).iterdir() if p.name != ".lock")
    assert left.count(".blob") == 4 and left.count(".req") == 1 and ".json" in left

    server.start()
    sent = subprocess.run([sys.executable, "-m", "arno.cli.main", "spool", "send"],
                          env=server.client_env(home), cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    assert not (home / "spool" / task_id).exists()
    api = _session(server)
    samples = api.get(f"tasks/{task_id}/debug_samples")
    assert [s["iteration"] for s in samples] == [0, 1, 2]
    for s in samples:
        assert api.get_bytes(f"blobs/{s['hash']}")[1].startswith(b"\x89PNG")
    (art,) = api.get(f"tasks/{task_id}/artifacts")
    assert (art["name"], art["type"]) == ("table", "json")
    assert api.get_bytes(f"blobs/{art['hash']}")[1].replace(b" ", b"").replace(b"\n", b"") \
        == b'{"rows":3}'
    assert api.get(f"tasks/{task_id}/scalars")[0]["x"] == [0, 1, 2]
    api.close()


def test_wait_on_upload_stores_at_once_and_raises_when_the_server_is_away(server, tmp_path):
    _up(server)
    session = _session(server, retries=0)
    task_id = _new_task(session, "waits")
    info = upload_artifact(session, task_id, "now", [1, 2, 3], wait_on_upload=True)
    assert info["size"] > 0 and info["hash"]  # the server's record: stored before returning
    server.kill()
    try:
        with pytest.raises(ServerUnavailable):
            upload_artifact(session, task_id, "later", [4], wait_on_upload=True)
    finally:
        server.start()
    assert [a["name"] for a in session.get(f"tasks/{task_id}/artifacts")] == ["now"]
    session.close()


def test_a_small_image_costs_well_under_a_millisecond_after_encoding(server, tmp_path):
    _up(server)
    session = _session(server)
    task_id = _new_task(session, "cost")
    reporter = Reporter(session, task_id, spool_dir=tmp_path / "spool", flush_interval=0.2)
    reporter.start()
    log = Logger(reporter, session)
    png = tmp_path / "sample.png"
    png.write_bytes(encode_image(_image(7))[0])  # a file is sent as it is: no encoding
    times = []
    for i in range(200):
        started = time.perf_counter()
        log.report_image("cost", "png", iteration=i, local_path=png)
        times.append(time.perf_counter() - started)
    assert reporter.flush(wait=True, timeout=60) is True
    reporter.close()
    median = sorted(times)[len(times) // 2]
    print(f"\nreport_image of a small PNG file: median {median * 1e6:.0f} us")
    assert median < 0.001
    assert len(session.get(f"tasks/{task_id}/debug_samples")) == 200
    session.close()


def test_the_spool_folder_is_private(server, tmp_path):
    _up(server)
    session = _session(server, retries=0)
    task_id = _new_task(session, "private")
    reporter = Reporter(session, task_id, spool_dir=tmp_path / "spool", flush_interval=60)
    reporter.blob(b"secret pixels")  # the thread is not started: it stays in the folder
    folder = tmp_path / "spool" / task_id
    (entry,) = [p for p in folder.iterdir() if p.suffix == ".blob"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert entry.stat().st_mode & 0o777 == 0o600
    assert entry.read_bytes() == b"secret pixels"
    assert reporter.flush(wait=True) is True
    assert session.get_bytes(f"blobs/{blake3(b'secret pixels').hexdigest()}")[1] == \
        b"secret pixels"
    reporter.close()
    session.close()
    assert not Path(folder).exists()

"""A full disk during an artifact upload.

A real full filesystem, not a mock: a small tmpfs mounted for the test (skipped, saying why,
where ``mount -t tmpfs`` is not allowed), almost filled with a filler file. Two places run out
of space, each in its own case:

- ``store``: the blob store (``ARNO_STORAGE_URL``) is on the small filesystem;
- ``uploads``: ``$ARNO_HOME/tmp``, where the server receives an upload before storing it.

An ``arno server`` subprocess is asked to store an artifact larger than the space left.
Asserted: the upload fails with a clear error (HTTP 507 with a JSON error body, no traceback;
the SDK's ``upload_artifact`` raises), the server stays up, no partial blob is visible (every
stored blob hashes to its name, the artifact's blob is absent, no temp file is left behind),
and once space is freed the same call succeeds and the artifact reads back byte-identical.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from blake3 import blake3
from tests.processes import ServerProcess, bad_blobs

from arno.core.errors import ArnoError

FS_BYTES = 4 << 20
FILLER = 3 << 20  # leaves about 1 MiB
ARTIFACT = 2 << 20


def _mount_tmpfs(where: Path, size: int) -> str | None:
    """Mount a tmpfs of ``size`` bytes at ``where``; the reason it cannot be done, or None."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                               str(where)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount is not available: {exc}"
    if done.returncode != 0:
        return f"cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {done.stderr.strip()}"
    return None


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


@pytest.fixture(params=["store", "uploads"])
def full(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[tuple[ServerProcess, Path, Path]]:
    """A server whose store or upload folder is on a small, almost full filesystem; the SDK of
    this process pointed at it. Yields (server, store root, filler file)."""
    from arno.sdk import set_session

    home = tmp_path / "server-home"
    small = tmp_path / "small" if request.param == "store" else home / "tmp"
    reason = _mount_tmpfs(small, FS_BYTES)
    if reason:
        pytest.skip(reason)
    try:
        env = {"ARNO_STORAGE_URL": str(small)} if request.param == "store" else {}
        srv = ServerProcess(home, **env)
        srv.start()
        store = small if request.param == "store" else home / "files"
        filler = small / "filler.bin"
        filler.write_bytes(b"\0" * FILLER)
        for k, v in srv.client_env(tmp_path / "client-home").items():
            if k.startswith("ARNO_"):
                monkeypatch.setenv(k, v)
        monkeypatch.delenv("ARNO_OFFLINE", raising=False)
        monkeypatch.delenv("ARNO_TASK_ID", raising=False)
        set_session(None)
        try:
            yield srv, store, filler
        finally:
            set_session(None)
            srv.stop()
    finally:
        _umount(small)


@pytest.mark.slow
def test_an_upload_onto_a_full_disk_fails_clearly_and_a_retry_succeeds(full, tmp_path):
    from arno import Task

    srv, store, filler = full
    data = os.urandom(ARTIFACT)
    digest = blake3(data).hexdigest()
    src = tmp_path / "weights.bin"
    src.write_bytes(data)

    # the HTTP answer itself: 507 and a JSON error body, not a traceback
    with srv.client() as api:
        r = api.put(f"/api/v1/blobs/{digest}", content=data,
                    headers={"content-type": "application/octet-stream"})
    assert r.status_code == 507, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == "insufficient_storage"
    assert "space" in error["message"] and "Traceback" not in r.text

    # the SDK raises it (a synchronous upload; in the background the file waits in the spool)
    task = Task.init(project_name="faults", task_name=f"disk full {uuid.uuid4().hex[:6]}",
                     auto_connect_streams=False, auto_resource_monitoring=False)
    with pytest.raises(ArnoError) as raised:
        task.upload_artifact("weights", artifact_object=src, wait_on_upload=True)
    assert "space" in str(raised.value)
    assert srv.alive()

    # nothing half-written is visible
    with srv.client() as api:
        assert api.head(f"/api/v1/blobs/{digest}").status_code == 404
        assert "weights" not in {a["name"] for a in
                                 api.get(f"/api/v1/tasks/{task.id}/artifacts").json()}
    assert bad_blobs(store) == []
    leftovers = [p for d in (store / "tmp", srv.home / "tmp") if d.is_dir()
                 for p in d.iterdir() if p != filler]
    assert leftovers == []

    # space freed: the same call goes through, and the artifact reads back whole
    filler.unlink()
    task.upload_artifact("weights", artifact_object=src, wait_on_upload=True)
    copy = Path(task.artifacts["weights"].get_local_copy())
    assert copy.read_bytes() == data
    assert bad_blobs(store) == []
    task.close()

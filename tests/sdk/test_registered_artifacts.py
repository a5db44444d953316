"""Registered artifacts (ClearML's ``Task.register_artifact``): a DataFrame watched on a
background thread and uploaded again, with its metadata and preview, whenever its content
changes; unregistering stops that; closing the registry makes a last upload. Checked by what
a live server on 127.0.0.1 stores."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from arno.client import ApiSession, Reporter
from arno.core.errors import InvalidInput
from arno.sdk._artifacts import Artifact, ArtifactRegistry

WATCH = 0.1
"""The registry's interval in these tests (seconds; the default is 5)."""


@pytest.fixture
def rig(sqlite_server, tmp_path):
    session = ApiSession(sqlite_server.url, sqlite_server.admin_key, sqlite_server.admin_secret)
    task_id = session.post("tasks", {"project": "registered", "name": tmp_path.name,
                                     "status": "in_progress"})["id"]
    reporter = Reporter(session, task_id, spool_dir=tmp_path / "spool", flush_interval=0.1)
    reporter.start()
    registry = ArtifactRegistry(session, reporter, task_id, interval=WATCH)
    yield session, task_id, reporter, registry
    registry.close()
    reporter.close()
    session.close()


def _stored(session, reporter, task_id, name):
    # False means "waiting in the spool" (a busy server answered 5xx or timed out): the next
    # round sends it, so the check below is simply asked again
    reporter.flush(wait=True, timeout=30)
    found = [a for a in session.get(f"tasks/{task_id}/artifacts") if a["name"] == name]
    return found[0] if found else None


def _wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(WATCH)
    raise AssertionError("timed out")


def test_a_changed_frame_is_uploaded_again_and_unregister_stops_it(rig):
    session, task_id, reporter, registry = rig
    df = pd.DataFrame({"id": [1, 2, 2], "score": [0.5, 0.7, 0.7]})
    registry.register("samples", df, metadata={"split": "train"}, uniqueness_columns=["id"])
    assert registry.registered()["samples"] is df

    first = _wait_for(lambda: _stored(session, reporter, task_id, "samples"))
    assert first["metadata"]["split"] == "train"
    assert first["metadata"]["unique_rows"] == 2  # rows unique over "id"
    assert "score" in first["preview"]
    got = Artifact(session, first).get()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), df, check_dtype=False)

    time.sleep(WATCH * 5)  # unchanged: no new version
    assert registry.uploads == 1
    df.loc[len(df)] = [3, 0.9]  # the script changes its frame in place
    second = _wait_for(lambda: (a := _stored(session, reporter, task_id, "samples"))
                       and a["hash"] != first["hash"] and a)
    assert len(Artifact(session, second).get()) == 4
    assert second["metadata"]["unique_rows"] == 3
    assert registry.uploads == 2

    registry.unregister("samples")
    assert registry.registered() == {}
    df.loc[len(df)] = [4, 1.0]
    time.sleep(WATCH * 5)
    registry.close()  # the last look finds nothing registered
    assert _stored(session, reporter, task_id, "samples")["hash"] == second["hash"]
    assert registry.uploads == 2


def test_close_uploads_the_last_change(rig):
    session, task_id, reporter, registry = rig
    registry.interval = 3600.0  # the thread will not look again on its own
    df = pd.DataFrame({"a": [1]})
    registry.register("last", df, uniqueness_columns=False)
    _wait_for(lambda: registry.uploads == 1)
    df["a"] = [2]
    registry.close()
    art = _stored(session, reporter, task_id, "last")
    assert Artifact(session, art).get()["a"].tolist() == [2]
    assert "unique_rows" not in art["metadata"]


@pytest.mark.parametrize("args, message", [
    (("x", [1, 2]), "pandas DataFrames"),
    (("x", pd.DataFrame({"a": [1]}), None, ["b"]), "uniqueness_columns not in the frame"),
    (("a/b", pd.DataFrame({"a": [1]})), "artifact name"),
    (("x", pd.DataFrame({"a": [1]}), {"when": object()}), "metadata must be JSON"),
])
def test_bad_registrations_raise(rig, args, message):
    _session, _task_id, _reporter, registry = rig
    with pytest.raises(InvalidInput, match=message):
        registry.register(*args)
    assert registry.registered() == {}

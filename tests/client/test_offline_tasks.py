"""Offline mode: a task recorded with no server at all (``ARNO_OFFLINE=1`` or
``Task.init(offline=True)``), packed into ``$ARNO_HOME/offline/<task id>.zip`` and uploaded
later with ``import_offline_task``; the server then holds all of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from arno.client import ApiSession, import_offline_task
from arno.core.errors import InvalidInput

OFFLINE_SCRIPT = """
import numpy as np
from arno import Task

task = Task.init(project_name="offline/field", task_name="on the train",
                 tags=["offline"], auto_resource_monitoring=False)
params = task.connect({"lr": 0.1, "layers": {"hidden": 32}})
task.connect_configuration({"scaler": "minmax"}, name="preprocessing")
log = task.get_logger()
for it in range(300):
    log.report_scalar("loss", "train", 1.0 / (it + 1), it)
log.report_single_value("mae", 1.5)
task.upload_artifact("summary", artifact_object={"best": 0.25, "epochs": [1, 2]})
task.upload_artifact("weights", artifact_object=np.arange(6, dtype=np.int64).reshape(2, 3))
print("TASK_ID", task.id)
print("hello from nowhere")
"""


@pytest.fixture
def api_session(sqlite_server):
    session = ApiSession(sqlite_server.url, sqlite_server.admin_key, sqlite_server.admin_secret)
    yield session
    session.close()


def check_uploaded(session: ApiSession, task_id: str, *, console: str | None) -> None:
    task = session.get(f"tasks/{task_id}")
    assert task["project"] == "offline/field"
    assert task["name"] == "on the train"
    assert task["tags"] == ["offline"]
    assert task["status"] == "completed"
    params = {f"{p['section']}/{p['name']}": p["value"] for p in task["hyperparams"]}
    assert params["General/lr"] == "0.1"
    assert params["General/layers/hidden"] == "32"
    configs = {c["name"]: c for c in task["configurations"]}
    assert json.loads(configs["preprocessing"]["value"]) == {"scaler": "minmax"}
    (series,) = session.get(f"tasks/{task_id}/scalars")
    assert (series["metric"], series["variant"]) == ("loss", "train")
    assert series["x"] == list(range(300))
    assert series["y"][-1] == pytest.approx(1 / 300)
    assert session.get(f"tasks/{task_id}/single_values")[0]["value"] == 1.5
    arts = {a["name"]: a for a in session.get(f"tasks/{task_id}/artifacts")}
    assert set(arts) == {"summary", "weights"}
    assert arts["summary"]["type"] == "json"
    assert arts["weights"]["type"] == "numpy"
    if console is not None:
        lines = [c["text"] for c in session.get(f"tasks/{task_id}/console", limit=1000)]
        assert console in lines


def test_a_script_run_with_arno_offline_is_uploaded_whole(sqlite_server, api_session, tmp_path):
    home = tmp_path / "laptop-home"
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(OFFLINE_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(home), ARNO_OFFLINE="1")  # and no server configured at all
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    offline_id = re.search(r"TASK_ID ([0-9a-f]{32})", proc.stdout).group(1)
    package = home / "offline" / f"{offline_id}.zip"
    assert package.is_file(), sorted(p.name for p in (home / "offline").iterdir())
    assert str(package) in proc.stderr  # the script tells where the recording is
    assert "arno task import" in proc.stderr

    new_id = import_offline_task(api_session, package, tmp_path / "unpacked")
    assert new_id != offline_id
    check_uploaded(api_session, new_id, console="hello from nowhere")

    from arno import Task
    from arno.sdk import set_session

    set_session(api_session)
    try:
        task = Task.get_task(task_id=new_id)
        assert task.artifacts["summary"].get() == {"best": 0.25, "epochs": [1, 2]}
        assert np.array_equal(
            task.artifacts["weights"].get(), np.arange(6, dtype=np.int64).reshape(2, 3)
        )
    finally:
        set_session(None)


def test_init_offline_true_in_process(sqlite_server, api_session, tmp_path, monkeypatch):
    from arno import Task
    from arno.sdk import set_session

    for key in [k for k in os.environ if k.startswith("ARNO_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "home"))
    set_session(None)
    try:
        task = Task.init(
            project_name="offline/field",
            task_name="on the train",
            tags=["offline"],
            offline=True,
            auto_connect_streams=False,
            auto_resource_monitoring=False,
        )
        task.connect({"lr": 0.1, "layers": {"hidden": 32}})
        task.connect_configuration({"scaler": "minmax"}, name="preprocessing")
        for it in range(300):
            task.get_logger().report_scalar("loss", "train", 1.0 / (it + 1), it)
        task.get_logger().report_single_value("mae", 1.5)
        task.upload_artifact("summary", artifact_object={"best": 0.25, "epochs": [1, 2]})
        task.upload_artifact("weights", artifact_object=np.zeros((2, 3)))
        assert task.get_parameters() == {"General/lr": "0.1", "General/layers/hidden": "32"}
        task.close()
    finally:
        set_session(None)
    package = tmp_path / "home" / "offline" / f"{task.id}.zip"
    assert package.is_file()
    new_id = import_offline_task(api_session, package, tmp_path / "unpacked")
    check_uploaded(api_session, new_id, console=None)


@pytest.mark.parametrize("member", ["../escape", "nested/../../escape"])
def test_a_zip_that_writes_outside_its_folder_is_refused(api_session, tmp_path, member):
    package = tmp_path / "evil.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("meta.json", json.dumps({"format": "arno-offline-task/1"}))
        zf.writestr("task.json", json.dumps({"id": "0" * 32}))
        zf.writestr("calls.jsonl", "")
        zf.writestr(member, "gotcha")
    workdir = tmp_path / "work" / "unpacked"
    workdir.mkdir(parents=True)
    before = api_session.get("tasks", limit=500)["total"]
    with pytest.raises(InvalidInput, match="escape"):
        import_offline_task(api_session, package, workdir)
    assert not (tmp_path / "work" / "escape").exists()
    assert not (tmp_path / "escape").exists()
    assert list(workdir.iterdir()) == []  # nothing extracted at all
    assert api_session.get("tasks", limit=500)["total"] == before


def test_a_file_that_is_not_an_offline_task_is_refused(api_session, tmp_path):
    package = tmp_path / "notes.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InvalidInput, match="not an Arno offline task"):
        import_offline_task(api_session, package, tmp_path / "unpacked")
    text = tmp_path / "plain.txt"
    text.write_text("hello")
    with pytest.raises(InvalidInput):
        import_offline_task(api_session, text, tmp_path / "unpacked2")

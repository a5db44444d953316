"""``arno task import``: a task recorded offline reaches the server whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.offline_packages import OLD_ID, craft_package

from arno.sdk import Task, set_session


@pytest.fixture
def offline_zip(cli, tmp_path: Path) -> Path:
    """A training run recorded with ``Task.init(offline=True)`` under the CLI's ARNO_HOME."""
    set_session(None)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(bytes(range(256)) * 40)
    task = Task.init(project_name="offline/runs", task_name="on the train", tags=["offline"],
                     offline=True, auto_connect_streams=False, auto_resource_monitoring=False,
                     auto_connect_arg_parser=False)
    try:
        task.connect({"lr": 0.05, "epochs": 3})
        log = task.get_logger()
        for it, loss in enumerate([0.9, 0.6, 0.3]):
            log.report_scalar("loss", "train", value=loss, iteration=it)
        task.upload_artifact("weights", artifact_object=weights)
    finally:
        task.close()
        set_session(None)
    (found,) = (cli.home / "offline").glob("*.zip")
    return found


def test_import_offline_task(cli, offline_zip, tmp_path):
    result = cli("task", "import", str(offline_zip))
    assert result.exit_code == 0, result.stderr
    new_id = result.stdout.strip()
    assert len(new_id) == 32 and f"as task {new_id}" in result.stderr

    detail = json.loads(cli("task", "show", new_id, "--json").stdout)
    assert (detail["project"], detail["name"], detail["tags"]) == (
        "offline/runs", "on the train", ["offline"])
    assert detail["status"] == "completed"
    params = {f"{p['section']}/{p['name']}": p["value"] for p in detail["hyperparams"]}
    assert params["General/lr"] == "0.05" and params["General/epochs"] == "3"
    (loss,) = [m for m in detail["metrics"] if m["metric"] == "loss"]
    assert (loss["last"], loss["min"], loss["max"], loss["count"]) == (0.3, 0.3, 0.9, 3)

    out = tmp_path / "got.bin"
    assert cli("artifact", "get", new_id, "weights", str(out)).exit_code == 0
    assert out.read_bytes() == bytes(range(256)) * 40
    listed = json.loads(cli("task", "list", "--project", "offline/runs", "--json").stdout)
    assert new_id in [t["id"] for t in listed]


def test_import_refuses_what_is_not_an_offline_task(cli, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert "offline task" in cli.one_error_line(cli("task", "import", str(junk)))
    assert "no such file" in cli.one_error_line(cli("task", "import", str(tmp_path / "nope")))


def _state(cli):
    with cli.http() as http:
        users = sorted(u["username"] for u in http.get("/api/v1/users").json())
        tasks = http.get("/api/v1/tasks", params={"limit": 500, "include_archived": "true"})
        return users, sorted((t["id"], t["name"], t["status"]) for t in tasks.json()["items"])


def test_import_refuses_a_crafted_package_and_changes_nothing(cli, tmp_path):
    victim = cli.task("offline/victims", "someone's")
    events = {"method": "POST", "path": f"tasks/{OLD_ID}/events",
              "body": {"batch_id": "e" * 32, "console": [{"text": "hi", "timestamp": 1.0}]}}
    cases = {
        "admin.zip": ([events, {"method": "POST", "path": "users",
                                "body": {"username": "mallory", "role": "admin"}}], {},
                      "POST users is not a call an offline task makes"),
        "delete.zip": ([{"method": "DELETE", "path": f"tasks/{victim}", "body": None}], {},
                       f"DELETE tasks/{victim}"),
        "dots.zip": ([{"method": "POST", "path": "/api/v1/../users", "body": {}}], {},
                     "/api/v1/../users"),
        "patch.zip": ([events, {"method": "PATCH", "path": f"tasks/{victim}",
                                "body": {"name": "pwned"}}], {}, f"PATCH tasks/{victim}"),
        "escape.zip": ([events], {"../../x": "gotcha"}, "'../../x' would escape"),
    }
    for name, (calls, extra, named) in cases.items():
        before = _state(cli)
        package = craft_package(tmp_path / name, calls, extra=extra)
        line = cli.one_error_line(cli("task", "import", str(package)))
        assert named in line and "nothing was imported" in line, line
        assert _state(cli) == before, name
    assert not (tmp_path / "x").exists()
    detail = json.loads(cli("task", "show", victim, "--json").stdout)
    assert detail["name"] == "someone's"

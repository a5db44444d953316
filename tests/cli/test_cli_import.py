"""``arno task import``: a task recorded offline reaches the server whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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

"""``arno import tensorboard DIR``: event files written by tensorboardX become tasks (one per
run folder, or all into ``--task``); a missing folder, a folder without event files and a file
cut short fail with one line; a record failing its checksum is skipped with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tbx = pytest.importorskip("tensorboardX", reason="tensorboardX is not installed")


def write_run(logdir: Path, scale: float = 1.0) -> Path:
    writer = tbx.SummaryWriter(str(logdir))
    for step in range(4):
        writer.add_scalar("loss/train", scale / (step + 1), step)
        writer.add_scalar("accuracy", 0.2 * step, step)
    writer.add_histogram("weights", np.arange(100, dtype=np.float64), 3)
    writer.add_text("notes", "hello tensorboard", 2)
    writer.close()
    (found,) = [p for p in logdir.iterdir() if "tfevents" in p.name]
    return found


def scalars(cli, task_id: str) -> dict[tuple[str, str], dict[int, float]]:
    with cli.http() as http:
        rows = http.get(f"/api/v1/tasks/{task_id}/scalars").json()
    return {(r["metric"], r["variant"]): dict(zip(r["x"], r["y"], strict=True)) for r in rows}


def test_each_run_folder_becomes_a_task(cli, tmp_path):
    write_run(tmp_path / "logs" / "run_a", 1.0)
    write_run(tmp_path / "logs" / "run_b", 2.0)
    result = cli("import", "tensorboard", str(tmp_path / "logs"), "--project", "tb/imported",
                 "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"run_a", "run_b"}
    assert rows["run_a"]["scalars"] == 8 and rows["run_a"]["histograms"] == 1
    assert rows["run_a"]["texts"] == 1 and rows["run_a"]["skipped"] == 0

    got = scalars(cli, rows["run_b"]["task"])
    assert got[("loss", "train")] == {i: pytest.approx(2.0 / (i + 1)) for i in range(4)}
    assert got[("accuracy", "accuracy")][3] == pytest.approx(0.6)
    with cli.http() as http:
        task = http.get(f"/api/v1/tasks/{rows['run_b']['task']}").json()
        plots = http.get(f"/api/v1/tasks/{rows['run_b']['task']}/plots").json()
        console = http.get(f"/api/v1/tasks/{rows['run_b']['task']}/console").json()
    assert task["status"] == "completed"
    assert task["project"] == "tb/imported" or task.get("project_name") == "tb/imported"
    assert [p["metric"] for p in plots] == ["weights"] and plots[0]["iteration"] == 3
    assert sum(plots[0]["figure"]["data"][0]["y"]) == 100
    assert any("hello tensorboard" in line["text"] for line in console)


def test_into_an_existing_task(cli, tmp_path):
    write_run(tmp_path / "one")
    tid = cli.task("tb/existing", "target")
    result = cli("import", "tensorboard", str(tmp_path / "one"), "--task", tid)
    assert result.exit_code == 0, result.stderr
    assert tid in result.stdout
    assert scalars(cli, tid)[("loss", "train")][0] == pytest.approx(1.0)


def test_missing_and_empty_folders_fail_with_one_line(cli, tmp_path):
    line = cli.one_error_line(cli("import", "tensorboard", str(tmp_path / "nowhere")))
    assert "does not exist" in line
    (tmp_path / "empty").mkdir()
    line = cli.one_error_line(cli("import", "tensorboard", str(tmp_path / "empty")))
    assert "no TensorBoard event files" in line


def test_a_file_cut_short_names_file_and_offset(cli, tmp_path):
    path = write_run(tmp_path / "cut")
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    line = cli.one_error_line(cli("import", "tensorboard", str(tmp_path / "cut")))
    assert path.name in line and "offset" in line


def test_a_record_failing_its_checksum_is_skipped(cli, tmp_path):
    path = write_run(tmp_path / "flip")
    data = bytearray(path.read_bytes())
    # the second record (the first scalar): flip a byte of its body, not of its length
    first_len = int.from_bytes(data[0:8], "little")
    second = 12 + first_len + 4
    data[second + 12 + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = cli("import", "tensorboard", str(tmp_path / "flip"), "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["skipped"] == 1 and row["scalars"] == 7
    assert f"offset {second}" in result.stderr and "checksum" in result.stderr

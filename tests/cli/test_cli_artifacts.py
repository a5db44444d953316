"""``arno artifact list|get``: the exact bytes land where the user asked, never over a file
by accident."""

from __future__ import annotations

import json
import os
import uuid

from blake3 import blake3


def _artifact(cli, task_id: str, name: str, data: bytes, file_name: str) -> str:
    digest = blake3(data).hexdigest()
    with cli.http() as http:
        http.put(f"/api/v1/blobs/{digest}", content=data).raise_for_status()
        http.put(f"/api/v1/tasks/{task_id}/artifacts/{name}",
                 json={"hash": digest, "file_name": file_name, "type": "file"}
                 ).raise_for_status()
    return digest


def test_list_and_get(cli, tmp_path):
    tid = cli.task(f"art-{uuid.uuid4().hex[:6]}", "with files")
    data = os.urandom(50_000) + b"\x00\xff end"
    digest = _artifact(cli, tid, "weights", data, "model.bin")
    _artifact(cli, tid, "notes", b"hello\n", "notes.txt")

    listed = json.loads(cli("artifact", "list", tid, "--json").stdout)
    by_name = {a["name"]: a for a in listed}
    assert set(by_name) == {"weights", "notes"}
    assert by_name["weights"]["hash"] == digest and by_name["weights"]["size"] == len(data)
    table = cli("artifact", "list", tid)
    assert table.exit_code == 0 and "model.bin" in table.stdout and "48.8 KB" in table.stdout

    # into a directory: the stored file name is kept
    out_dir = tmp_path / "downloads"
    out_dir.mkdir()
    got = cli("artifact", "get", tid, "weights", str(out_dir))
    assert got.exit_code == 0, got.stderr
    assert (out_dir / "model.bin").read_bytes() == data
    assert str(out_dir / "model.bin") in got.stdout
    assert [p.name for p in out_dir.iterdir()] == ["model.bin"]  # no partial file left behind

    # to a file path, in a folder that does not exist yet
    target = tmp_path / "new" / "copy.bin"
    assert cli("artifact", "get", tid, "weights", str(target)).exit_code == 0
    assert target.read_bytes() == data

    # an existing file is kept unless --force
    target.write_bytes(b"mine")
    refused = cli("artifact", "get", tid, "notes", str(target))
    assert "--force" in cli.one_error_line(refused)
    assert target.read_bytes() == b"mine"
    assert cli("artifact", "get", tid, "notes", str(target), "--force").exit_code == 0
    assert target.read_bytes() == b"hello\n"


def test_big_file_with_progress_bar(cli, tmp_path):
    tid = cli.task(f"art-{uuid.uuid4().hex[:6]}", "big")
    data = os.urandom(9 << 20)  # over the size from which a progress bar is shown
    _artifact(cli, tid, "big", data, "big.bin")
    got = cli("artifact", "get", tid, "big", str(tmp_path))
    assert got.exit_code == 0, got.stderr
    assert (tmp_path / "big.bin").read_bytes() == data
    assert "9.0 MB" in got.stdout


def test_errors_are_one_line(cli, tmp_path):
    tid = cli.task(f"art-{uuid.uuid4().hex[:6]}", "empty")
    assert "no artifact" in cli.one_error_line(
        cli("artifact", "get", tid, "missing", str(tmp_path)))
    with cli.http() as http:
        http.put(f"/api/v1/tasks/{tid}/artifacts/elsewhere",
                 json={"uri": "s3://bucket/data.csv", "type": "file"}).raise_for_status()
    line = cli.one_error_line(cli("artifact", "get", tid, "elsewhere", str(tmp_path)))
    assert "s3://bucket/data.csv" in line
    assert "no task" in cli.one_error_line(cli("artifact", "list", uuid.uuid4().hex))

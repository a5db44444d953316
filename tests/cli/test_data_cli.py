"""``arno data``: the clearml-data flow from a shell (create, add, upload, close, get), the
current version remembered between commands, reads with --json, and errors as one line."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from tests.dataset_trees import read_tree, write_tree


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_create_add_upload_close_get(cli, tmp_path):
    project = f"cli-data/{uuid.uuid4().hex[:6]}"
    files = {"a.csv": b"x,y\n1,2\n", "img/b.bin": os.urandom(1_200_000), "img/c.txt": b"c"}
    data = write_tree(tmp_path / "data", files)

    vid = ok(cli("data", "create", "--project", project, "--name", "flowers",
                 "--tags", "raw,v1")).strip()
    assert len(vid) == 32
    assert "1 files added" in ok(cli("data", "add", "--files", str(data / "a.csv")))
    added = ok(cli("data", "add", "--files", str(data / "img"), "--dataset-folder", "images"))
    assert "2 files added" in added
    listed = json.loads(ok(cli("data", "list", "--json")))  # the draft, as recorded so far
    assert [f["path"] for f in listed] == ["a.csv", "images/b.bin", "images/c.txt"]
    assert "1 files removed" in ok(cli("data", "remove", "--files", "images/c.txt"))
    ok(cli("data", "upload"))
    assert f"finalized {vid}" in ok(cli("data", "close"))

    got = Path(ok(cli("data", "get", "--id", vid)).strip())
    assert read_tree(got) == {"a.csv": files["a.csv"], "images/b.bin": files["img/b.bin"]}
    copy = tmp_path / "copy"
    assert json.loads(ok(cli("data", "get", "--id", vid, "--copy", str(copy), "--json"))) == {
        "id": vid, "path": str(copy)}
    assert read_tree(copy) == read_tree(got)

    found = json.loads(ok(cli("data", "search", "--project", project, "--json")))
    assert [(v["id"], v["state"], v["tags"]) for v in found] == [(vid, "final", ["raw", "v1"])]
    table = ok(cli("data", "search", "--project", project))
    assert vid in table and "flowers" in table and "1.0.0" in table

    files_table = ok(cli("data", "list", "--id", vid))
    assert "images/b.bin" in files_table and "added" in files_table


def test_child_versions_sync_diff_squash_delete(cli, tmp_path):
    project = f"cli-data/{uuid.uuid4().hex[:6]}"
    data = write_tree(tmp_path / "data", {"keep.txt": b"k", "edit.txt": b"old", "drop.txt": b"d"})
    out = ok(cli("data", "sync", "--folder", str(data), "--project", project, "--name", "docs"))
    v1 = out.split(":")[0].strip()
    assert "3 added" in out and "finalized" in out

    (data / "edit.txt").write_bytes(b"new")
    (data / "drop.txt").unlink()
    (data / "fresh.txt").write_bytes(b"f")
    out = ok(cli("data", "sync", "--folder", str(data), "--project", project, "--name", "docs"))
    v2 = out.split(":")[0].strip()
    assert "1 added, 1 modified, 1 removed" in out

    diff = json.loads(ok(cli("data", "diff", v1, v2, "--json")))
    assert [f["path"] for f in diff["added"]] == ["fresh.txt"]
    assert [f["path"] for f in diff["modified"]] == ["edit.txt"]
    assert [f["path"] for f in diff["removed"]] == ["drop.txt"]
    table = ok(cli("data", "diff", v1, v2))
    assert "1 added 1 modified 1 removed" in table and "fresh.txt" in table

    squashed = ok(cli("data", "squash", "--name", "docs-all", "--ids", v1, v2)).strip()
    assert read_tree(Path(ok(cli("data", "get", "--id", squashed)).strip())) == {
        "keep.txt": b"k", "edit.txt": b"new", "drop.txt": b"d", "fresh.txt": b"f"}

    line = cli.one_error_line(cli("data", "delete", "--id", v1))
    assert v2 in line  # refused: v2 is its child
    assert f"deleted {v2}" in ok(cli("data", "delete", "--id", v2))
    assert f"deleted {v1}" in ok(cli("data", "delete", "--id", v1))
    assert "no dataset version" in cli.one_error_line(cli("data", "get", "--id", v1))


def test_errors_are_one_line(cli, tmp_path):
    project = f"cli-data/{uuid.uuid4().hex[:6]}"
    assert "no current dataset" in cli.one_error_line(cli("data", "upload"))
    vid = ok(cli("data", "create", "--project", project, "--name", "errs")).strip()
    good = write_tree(tmp_path / "good", {"a.txt": b"a"})
    line = cli.one_error_line(cli("data", "add", "--files", str(good),
                                  "--files", str(tmp_path / "missing")))
    assert "missing" in line
    assert json.loads(ok(cli("data", "list", "--json"))) == []  # nothing was added
    (good / "dangling").symlink_to(tmp_path / "gone")
    assert "broken symbolic link" in cli.one_error_line(cli("data", "add", "--files", str(good)))
    (good / "dangling").unlink()
    ok(cli("data", "add", "--files", str(good)))
    ok(cli("data", "close"))
    line = cli.one_error_line(cli("data", "add", "--id", vid, "--files", str(good)))
    assert "finalized" in line
    assert "finalized" in cli.one_error_line(cli("data", "close", "--id", vid))
    assert "no dataset" in cli.one_error_line(cli("data", "get", "--id", uuid.uuid4().hex))
    assert "not finalized" in cli.one_error_line(
        cli("data", "create", "--project", project, "--name", "child",
            "--parents", ok(cli("data", "create", "--project", project, "--name", "d")).strip()))
    copy = write_tree(tmp_path / "busy", {"mine.txt": b"mine"})
    assert "--overwrite" in cli.one_error_line(cli("data", "get", "--id", vid, "--copy",
                                                   str(copy)))


def test_add_does_not_follow_links_out_of_the_folder(cli, tmp_path, caplog):
    outside = write_tree(tmp_path / "outside", {"secret.txt": b"secret", "keys/k.pem": b"k"})
    data = write_tree(tmp_path / "data", {"a.txt": b"a"})
    (data / "same.txt").symlink_to(data / "a.txt")
    (data / "secret.txt").symlink_to(outside / "secret.txt")
    (data / "keys").symlink_to(outside / "keys")
    ok(cli("data", "create", "--project", f"cli-data/{uuid.uuid4().hex[:6]}", "--name", "ln"))
    with caplog.at_level("WARNING", logger="arno.datasets"):
        assert "2 files added" in ok(cli("data", "add", "--files", str(data)))
    assert str(data / "secret.txt") in caplog.text and str(data / "keys") in caplog.text
    listed = json.loads(ok(cli("data", "list", "--json")))
    assert [f["path"] for f in listed] == ["a.txt", "same.txt"]

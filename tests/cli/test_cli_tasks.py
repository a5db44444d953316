"""``arno task list|show|delete|archive``: filters, sorting by a metric, details, ownership."""

from __future__ import annotations

import json
import uuid

import pytest

from arno.cli import tasks as task_cli


@pytest.fixture
def board(cli):
    """Three runs of a sweep in a project of their own, plus one in a sibling project."""
    root = f"sweep-{uuid.uuid4().hex[:6]}"
    ids = {
        "slow": cli.task(f"{root}/lstm", "lr 0.001", tags=["lstm", "baseline"],
                         params={"General/lr": "0.001", "General/layers": "2"},
                         losses=[1.0, 0.9, 0.8], status="completed"),
        "fast": cli.task(f"{root}/lstm", "lr 0.1", tags=["lstm"],
                         params={"General/lr": "0.1", "General/layers": "2"},
                         losses=[1.0, 0.3, 0.1], status="completed"),
        "mid": cli.task(f"{root}/lstm", "lr 0.01", tags=["lstm"],
                        params={"General/lr": "0.01", "General/layers": "4"},
                        losses=[1.0, 0.5, 0.4], status="failed"),
        "other": cli.task(f"{root}/gru", "gru lr 0.1", tags=["gru"],
                          params={"General/lr": "0.1"}, losses=[0.05]),
    }
    return root, ids


def _ids(result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return [t["id"] for t in json.loads(result.stdout)]


def test_filters(cli, board):
    root, ids = board
    assert set(_ids(cli("task", "list", "--project", root, "--json"))) == set(ids.values())
    assert set(_ids(cli("task", "list", "--project", f"{root}/lstm", "--json"))) == {
        ids["slow"], ids["fast"], ids["mid"]}
    assert _ids(cli("task", "list", "-p", root, "--status", "failed", "--json")) == [ids["mid"]]
    assert set(_ids(cli("task", "list", "-p", root, "--status", "failed", "--status",
                        "created", "--json"))) == {ids["mid"], ids["other"]}
    assert _ids(cli("task", "list", "-p", root, "--tag", "baseline", "--json")) == [ids["slow"]]
    assert set(_ids(cli("task", "list", "-p", root, "--tag", "lstm", "--tag", "-baseline",
                        "--json"))) == {ids["fast"], ids["mid"]}
    assert _ids(cli("task", "list", "-p", root, "--name", "GRU", "--json")) == [ids["other"]]
    assert set(_ids(cli("task", "list", "-p", root, "--owner", "admin", "--json"))) == set(
        ids.values())
    assert _ids(cli("task", "list", "-p", root, "--owner", "nobody", "--json")) == []
    assert set(_ids(cli("task", "list", "-p", root, "--param", "General/lr>0.005",
                        "--json"))) == {ids["fast"], ids["mid"], ids["other"]}
    assert _ids(cli("task", "list", "-p", root, "--param", "General/lr>0.005", "--param",
                    "General/layers=4", "--json")) == [ids["mid"]]
    assert set(_ids(cli("task", "list", "-p", root, "--metric", "loss/train<0.5",
                        "--json"))) == {ids["fast"], ids["mid"], ids["other"]}
    assert _ids(cli("task", "list", "-p", root, "--metric", "loss/train:max<0.5",
                    "--json")) == [ids["other"]]


def test_sort_by_metric_and_param_adds_the_column(cli, board):
    root, ids = board
    result = cli("task", "list", "-p", f"{root}/lstm", "--sort", "metric:loss/train", "--json")
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [ids["fast"], ids["mid"], ids["slow"]]
    assert [r["metric:loss/train"] for r in rows] == pytest.approx([0.1, 0.4, 0.8])
    assert {"project", "name", "status", "tags", "last_iteration", "created_at"} <= set(rows[0])

    desc = json.loads(cli("task", "list", "-p", f"{root}/lstm", "--sort", "-metric:loss/train",
                          "--json").stdout)
    assert [r["id"] for r in desc] == [ids["slow"], ids["mid"], ids["fast"]]
    by_lr = json.loads(cli("task", "list", "-p", f"{root}/lstm", "--sort=-param:General/lr",
                           "--json").stdout)
    assert [r["param:General/lr"] for r in by_lr] == ["0.1", "0.01", "0.001"]
    assert _ids(cli("task", "list", "-p", f"{root}/lstm", "--sort", "name", "--json")) == [
        ids["slow"], ids["mid"], ids["fast"]]  # "lr 0.001" < "lr 0.01" < "lr 0.1"

    table = cli("task", "list", "-p", f"{root}/lstm", "--sort", "metric:loss/train")
    assert table.exit_code == 0
    header = next(line for line in table.stdout.splitlines() if "metric:loss/train" in line)
    for col in ("id", "project", "name", "status", "tags", "last iteration", "created"):
        assert col in header
    body = table.stdout[table.stdout.index(header):]
    assert body.index(ids["fast"]) < body.index(ids["mid"]) < body.index(ids["slow"])
    assert "0.1" in body and "lstm, baseline" in body


def test_limit_and_all(cli, board, monkeypatch):
    root, ids = board
    few = cli("task", "list", "-p", root, "--limit", "2")
    assert few.exit_code == 0
    assert sum(tid in few.stdout for tid in ids.values()) == 2
    assert "2 of 4 tasks shown" in few.stderr
    monkeypatch.setattr(task_cli, "PAGE_FOR_ALL", 3)  # so --all has to follow the cursor
    assert sorted(_ids(cli("task", "list", "-p", root, "--all", "--json"))) == sorted(ids.values())


def test_bad_queries_are_one_line(cli, board):
    assert "cannot sort by" in cli.one_error_line(cli("task", "list", "--sort", "colour"))
    assert "not a number" in cli.one_error_line(
        cli("task", "list", "--metric", "loss/train<low"))
    assert cli("task", "list", "--status", "sleeping").exit_code == 2  # usage: Typer's choice
    assert "no task" in cli.one_error_line(cli("task", "show", uuid.uuid4().hex))


def test_show(cli, board):
    _, ids = board
    shown = cli("task", "show", ids["mid"])
    assert shown.exit_code == 0, shown.stderr
    out = shown.stdout
    for text in (ids["mid"], "lr 0.01", "failed", "hyperparameters: General", "layers", "4",
                 "loss", "train", "0.4", "1", "admin"):
        assert text in out
    # metrics: last, min, max of the curve 1.0, 0.5, 0.4
    row = next(line for line in out.splitlines() if line.startswith("│ loss"))
    assert [c.strip() for c in row.split("│")[1:6]] == ["loss", "train", "0.4", "0.4", "1"]

    detail = json.loads(cli("task", "show", ids["mid"], "--json").stdout)
    assert detail["id"] == ids["mid"] and detail["status"] == "failed"
    assert {(p["section"], p["name"], p["value"]) for p in detail["hyperparams"]} == {
        ("General", "lr", "0.01"), ("General", "layers", "4")}
    (loss,) = detail["metrics"]
    assert (loss["last"], loss["min"], loss["max"]) == (0.4, 0.4, 1.0)


def test_archive_and_restore(cli, board):
    root, ids = board
    archived = cli("task", "archive", ids["slow"])
    assert archived.exit_code == 0 and "archived" in archived.stdout
    assert ids["slow"] not in _ids(cli("task", "list", "-p", root, "--json"))
    assert _ids(cli("task", "list", "-p", root, "--archived", "--json")) == [ids["slow"]]
    restored = cli("task", "archive", ids["slow"], "--restore")
    assert restored.exit_code == 0 and "restored" in restored.stdout
    assert ids["slow"] in _ids(cli("task", "list", "-p", root, "--json"))


def test_delete_asks_and_respects_ownership(cli):
    owner, key, secret = cli.user("gina")
    project = f"own-{uuid.uuid4().hex[:6]}"
    hers = cli.task(project, "hers", key=key, secret=secret)
    theirs = cli.task(project, "the admin's")

    # another user's task: refused, still there
    refused = cli("task", "delete", theirs, "--yes", key=key, secret=secret)
    assert "owner" in cli.one_error_line(refused)
    assert cli("task", "show", theirs).exit_code == 0

    # she says no: nothing happens
    declined = cli("task", "delete", hers, key=key, secret=secret, input="n\n")
    assert declined.exit_code == 1 and "Delete task 'hers'" in declined.stdout
    assert cli("task", "show", hers).exit_code == 0
    # she says yes
    done = cli("task", "delete", hers, key=key, secret=secret, input="y\n")
    assert done.exit_code == 0 and f"deleted task {hers}" in done.stdout
    assert "no task" in cli.one_error_line(cli("task", "show", hers))
    # an admin may delete anyone's task, without a question with --yes
    assert cli("task", "delete", theirs, "--yes").exit_code == 0
    assert _ids(cli("task", "list", "-p", project, "--json")) == []


def test_delete_running_task_needs_force(cli):
    tid = cli.task(f"run-{uuid.uuid4().hex[:6]}", "running", status="in_progress")
    assert "running" in cli.one_error_line(cli("task", "delete", tid, "--yes"))
    assert cli("task", "delete", tid, "--yes", "--force").exit_code == 0

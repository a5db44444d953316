"""``arno task clone|enqueue|dequeue|abort|reset`` against a live server: what each does to the
task (read back over the API), and bad input as one ``error:`` line with exit 1 (an unknown
id, an enqueue of a completed task, a dequeue of a task that is not queued ...)."""

from __future__ import annotations

import uuid

import pytest

UNKNOWN = "0" * 32


@pytest.fixture
def queue(cli) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    with cli.http() as http:
        http.post("/api/v1/queues", json={"name": name}).raise_for_status()
    return name


def _task(cli, tid: str) -> dict:
    with cli.http() as http:
        return http.get(f"/api/v1/tasks/{tid}").json()


def _queue_length(cli, queue: str) -> int:
    with cli.http() as http:
        return int(http.get(f"/api/v1/queues/{queue}").json()["length"])


def _out(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout.strip()


def test_clone_copies_the_inputs_into_a_new_draft(cli, queue):
    src = cli.task("cli-actions", "original", params={"General/lr": "0.1"}, losses=[1.0, 0.5],
                   status="completed")
    copy = _out(cli("task", "clone", src))
    assert len(copy) == 32 and copy != src
    task = _task(cli, copy)
    assert task["status"] == "created" and task["name"] == "original (clone)"
    assert [(p["section"], p["name"], p["value"]) for p in task["hyperparams"]] == [
        ("General", "lr", "0.1")]
    assert task["metrics"] == []  # outputs are not copied

    named = _out(cli("task", "clone", src, "--name", "second try", "--project",
                     "cli-actions/clones", "--queue", queue))
    task = _task(cli, named)
    assert (task["name"], task["project"], task["status"]) == (
        "second try", "cli-actions/clones", "queued")
    assert _queue_length(cli, queue) == 1


def test_enqueue_dequeue_then_abort(cli, queue):
    tid = cli.task("cli-actions", "to run")
    assert _out(cli("task", "enqueue", tid, "--queue", queue)) == (
        f"queued task {tid} (to run) in {queue}")
    assert _task(cli, tid)["status"] == "queued" and _queue_length(cli, queue) == 1

    assert _out(cli("task", "dequeue", tid)) == f"task {tid} (to run) is a draft again"
    assert _task(cli, tid)["status"] == "created" and _queue_length(cli, queue) == 0

    _out(cli("task", "enqueue", tid, "-q", queue, "--priority", "5"))
    assert _out(cli("task", "abort", tid, "--message", "not today")) == f"task {tid}: stopped"
    task = _task(cli, tid)
    assert task["status"] == "stopped" and task["status_message"] == "not today"
    assert _queue_length(cli, queue) == 0


def test_reset_makes_a_finished_task_a_draft_and_clears_its_outputs(cli, queue):
    tid = cli.task("cli-actions", "finished", losses=[1.0, 0.5, 0.25], status="completed")
    assert _out(cli("task", "reset", tid)) == f"task {tid} (finished) is a draft again"
    task = _task(cli, tid)
    assert task["status"] == "created" and task["metrics"] == []
    # a draft again: it may be queued once more
    _out(cli("task", "enqueue", tid, "--queue", queue))
    assert _task(cli, tid)["status"] == "queued"

    kept = cli.task("cli-actions", "keeps", losses=[2.0, 1.0], status="failed")
    _out(cli("task", "reset", kept, "--keep-outputs"))
    task = _task(cli, kept)
    assert task["status"] == "created"
    assert [(m["metric"], m["last"]) for m in task["metrics"]] == [("loss", 1.0)]


@pytest.mark.parametrize("command", [
    ["clone", UNKNOWN], ["enqueue", UNKNOWN], ["dequeue", UNKNOWN], ["abort", UNKNOWN],
    ["reset", UNKNOWN]], ids=lambda argv: argv[0])
def test_an_unknown_id_is_one_line(cli, command):
    line = cli.one_error_line(cli("task", *command))
    assert UNKNOWN in line, line


def test_refused_moves_are_one_line_and_change_nothing(cli, queue):
    done = cli.task("cli-actions", "done", status="completed")
    line = cli.one_error_line(cli("task", "enqueue", done, "--queue", queue))
    assert "completed" in line and "reset or clone" in line, line
    assert _task(cli, done)["status"] == "completed" and _queue_length(cli, queue) == 0

    draft = cli.task("cli-actions", "draft")
    line = cli.one_error_line(cli("task", "dequeue", draft))
    assert "not queued" in line, line
    line = cli.one_error_line(cli("task", "abort", draft))
    assert "only queued or running tasks" in line, line
    assert _task(cli, draft)["status"] == "created"

    line = cli.one_error_line(cli("task", "enqueue", draft, "--queue", "no-such-queue"))
    assert "no-such-queue" in line, line
    _out(cli("task", "enqueue", draft, "--queue", queue))
    line = cli.one_error_line(cli("task", "enqueue", draft, "--queue", queue))
    assert "already queued" in line and queue in line, line
    assert _queue_length(cli, queue) == 1


def test_another_users_task_cannot_be_moved(cli, queue):
    tid = cli.task("cli-actions", "admin's")
    _name, key, secret = cli.user("intruder")
    for command in (["enqueue", tid, "--queue", queue], ["reset", tid], ["abort", tid]):
        cli.one_error_line(cli("task", *command, key=key, secret=secret))
    assert _task(cli, tid)["status"] == "created" and _queue_length(cli, queue) == 0

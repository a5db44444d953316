"""Training scripts as a user runs them: ``python train.py --batch_size 32`` in a process of
its own, finding the live server through ``ARNO_API_HOST``/``KEY``/``SECRET``. What is checked
is what the user then sees on the server: parameters, status, console."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from arno.core.errors import ArnoError

ARGPARSE_SCRIPT = """
import argparse
from arno import Task

task = Task.init(project_name="scripts/argparse", task_name="{name}",
                 auto_resource_monitoring=False)
parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=8)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--optimizer", default="sgd")
parser.add_argument("--augment", action="store_true")
args = parser.parse_args()
params = task.connect({{"lr": 0.5, "epochs": 3, "layers": {{"hidden": 64}}}})
print("TASK_ID", task.id)
print("ARGS", args.batch_size, type(args.batch_size).__name__, args.lr,
      type(args.lr).__name__, args.optimizer, args.augment)
print("DICT", params["lr"], type(params["lr"]).__name__, params["epochs"],
      params["layers"]["hidden"])
"""


def run_script(
    live,
    tmp_path: Path,
    source: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """``python train.py ARGS`` with the environment a user has after ``arno up``."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(source))
    full = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    full.update(
        ARNO_HOME=str(tmp_path / "client-home"),
        ARNO_API_HOST=live.url,
        ARNO_API_KEY=live.admin_key,
        ARNO_API_SECRET=live.admin_secret,
        PYTHONIOENCODING="utf-8",
    )
    full.update(env or {})
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


def task_id_of(proc: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"TASK_ID ([0-9a-f]{32})", proc.stdout)
    assert found, (
        f"no task id printed\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return found.group(1)


def console_of(api: httpx.Client, task_id: str) -> list[str]:
    resp = api.get(f"/api/v1/tasks/{task_id}/console", params={"limit": 10000})
    resp.raise_for_status()
    return [line["text"] for line in resp.json()]


@pytest.fixture
def api(sqlite_server):
    with sqlite_server.client() as client:
        yield client


def test_argparse_arguments_are_recorded_with_types(sqlite_server, sdk, api, tmp_path):
    proc = run_script(
        sqlite_server,
        tmp_path,
        ARGPARSE_SCRIPT.format(name="argparse run"),
        "--batch_size",
        "32",
        "--lr",
        "0.1",
    )
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    assert "ARGS 32 int 0.1 float sgd False" in proc.stdout

    params = {
        f"{p['section']}/{p['name']}": p for p in api.get(f"/api/v1/tasks/{tid}/params").json()
    }
    assert params["Args/batch_size"]["value"] == "32"
    assert params["Args/batch_size"]["type"] == "int"
    assert params["Args/lr"]["value"] == "0.1"
    assert params["Args/lr"]["type"] == "float"
    assert params["Args/optimizer"]["value"] == "sgd"
    assert params["Args/augment"]["type"] == "bool"
    assert params["General/layers/hidden"]["value"] == "64"

    from arno import Task

    task = Task.get_task(task_id=tid)
    assert task.get_parameter("Args/batch_size") == "32"
    assert task.get_parameters(cast=True)["Args/lr"] == 0.1
    assert task.get_status() == "completed"  # exited normally without close()


def test_remote_run_sees_values_edited_on_a_clone(sqlite_server, api, tmp_path):
    created = api.post(
        "/api/v1/tasks",
        json={
            "project": "scripts/remote",
            "name": "template",
            "hyperparams": [
                {"section": "Args", "name": "batch_size", "value": "8", "type": "int"},
                {"section": "Args", "name": "lr", "value": "0.01", "type": "float"},
                {"section": "Args", "name": "optimizer", "value": "sgd", "type": "str"},
                {"section": "Args", "name": "augment", "value": "False", "type": "bool"},
                {"section": "General", "name": "lr", "value": "0.5", "type": "float"},
                {"section": "General", "name": "epochs", "value": "3", "type": "int"},
                {"section": "General", "name": "layers/hidden", "value": "64", "type": "int"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    clone = api.post(f"/api/v1/tasks/{created.json()['id']}/clone", json={"name": "tuned"})
    assert clone.status_code == 201, clone.text
    clone_id = clone.json()["id"]
    edit = api.put(
        f"/api/v1/tasks/{clone_id}/params",
        json={
            "params": [
                {"section": "Args", "name": "batch_size", "value": "64", "type": "int"},
                {"section": "Args", "name": "augment", "value": "true", "type": "bool"},
                {"section": "General", "name": "lr", "value": "0.25", "type": "float"},
                {"section": "General", "name": "layers/hidden", "value": "128", "type": "int"},
            ]
        },
    )
    assert edit.status_code == 200, edit.text

    # the command line says 16; the server's value for the task wins, as for an agent's run
    proc = run_script(
        sqlite_server,
        tmp_path,
        ARGPARSE_SCRIPT.format(name="ignored"),
        "--batch_size",
        "16",
        env={"ARNO_TASK_ID": clone_id},
    )
    assert proc.returncode == 0, proc.stderr
    assert task_id_of(proc) == clone_id
    assert "ARGS 64 int 0.01 float sgd True" in proc.stdout
    assert "DICT 0.25 float 3 128" in proc.stdout

    task = api.get(f"/api/v1/tasks/{clone_id}").json()
    assert task["status"] == "completed"
    assert task["name"] == "tuned"
    stored = {f"{p['section']}/{p['name']}": p["value"] for p in task["hyperparams"]}
    assert stored["Args/batch_size"] == "64"
    assert stored["General/lr"] == "0.25"


def test_uncaught_exception_marks_the_task_failed_with_the_traceback(sqlite_server, api, tmp_path):
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        from arno import Task
        task = Task.init(project_name="scripts/crash", task_name="boom",
                         auto_resource_monitoring=False)
        print("TASK_ID", task.id)
        print("about to fail")

        def train_step():
            raise ValueError("loss exploded at step 42")

        train_step()
    """,
    )
    assert proc.returncode == 1
    assert "ValueError: loss exploded at step 42" in proc.stderr  # the user still sees it
    tid = task_id_of(proc)
    task = api.get(f"/api/v1/tasks/{tid}").json()
    assert task["status"] == "failed"
    assert "Traceback (most recent call last)" in task["status_message"]
    assert "ValueError: loss exploded at step 42" in task["status_message"]
    console = console_of(api, tid)
    assert "about to fail" in console
    assert "Traceback (most recent call last):" in console
    assert "ValueError: loss exploded at step 42" in console
    assert any("train_step" in line for line in console)


def test_normal_exit_without_close_completes_and_keeps_the_console(sqlite_server, api, tmp_path):
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        import sys
        from arno import Task
        task = Task.init(project_name="scripts/plain", task_name="no close",
                         auto_resource_monitoring=False)
        print("TASK_ID", task.id)
        for it in range(50):
            task.get_logger().report_scalar("loss", "train", 1.0 / (it + 1), it)
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.write("last words without a newline")
    """,
    )
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    task = api.get(f"/api/v1/tasks/{tid}").json()
    assert task["status"] == "completed"
    assert task["completed_at"] is not None
    console = console_of(api, tid)
    assert "to stdout" in console
    assert "to stderr" in console
    assert "last words without a newline" in console  # flushed at exit
    scalars = api.get(f"/api/v1/tasks/{tid}/scalars").json()
    assert scalars[0]["x"] == list(range(50))


def test_console_collapses_progress_bars_keeps_bad_bytes_and_truncates_huge_lines(
    sqlite_server, api, tmp_path
):
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        import sys, time
        from arno import Task
        task = Task.init(project_name="scripts/console", task_name="progress",
                         auto_resource_monitoring=False)
        print("TASK_ID", task.id)
        for i in range(101):  # what tqdm writes
            sys.stderr.write(f"\\rtraining: {i:3d}%|" + "#" * (i // 10) + f"| {i}/100")
            sys.stderr.flush()
        sys.stderr.write("\\n")
        sys.stdout.flush()
        sys.stdout.buffer.write(b"latin-1 says caf\\xe9 and \\xff\\xfe end\\n")
        sys.stdout.buffer.flush()
        print("x" * 10_000_000)
        print("after the huge line")
    """,
    )
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    console = console_of(api, tid)

    bars = [line for line in console if line.startswith("training:")]
    assert bars == ["training: 100%|##########| 100/100"]

    bad = [line for line in console if line.startswith("latin-1 says")]
    assert bad == ["latin-1 says caf\ufffd and \ufffd\ufffd end"]

    huge = [line for line in console if line.startswith("xxxx")]
    assert len(huge) == 1
    assert re.fullmatch(r"x+ \.\.\. \[truncated \d+ characters\]", huge[0])
    kept = len(huge[0].split(" ", 1)[0])
    dropped = int(re.search(r"truncated (\d+) characters", huge[0]).group(1))
    assert kept + dropped == 10_000_000
    assert kept <= 1024 * 1024
    assert console[-1] == "after the huge line"


def test_init_without_a_configured_server_says_to_run_arno_up(tmp_path, monkeypatch):
    from arno import Task
    from arno.sdk import NotConfigured, set_session

    for key in [k for k in os.environ if k.startswith("ARNO_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "empty-home"))
    set_session(None)
    try:
        with pytest.raises(NotConfigured) as info:
            Task.init(
                project_name="p",
                task_name="t",
                auto_connect_streams=False,
                auto_resource_monitoring=False,
            )
        assert "arno up" in str(info.value)
        assert isinstance(info.value, ArnoError)
        assert Task.current_task() is None
    finally:
        set_session(None)


def test_script_without_a_configured_server_fails_with_one_clear_message(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("from arno import Task\nTask.init(project_name='p', task_name='t')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env["ARNO_HOME"] = str(tmp_path / "empty-home")
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "NotConfigured" in proc.stderr
    assert "arno up" in proc.stderr


def test_arguments_parsed_before_init_are_recorded_too(sqlite_server, api, tmp_path):
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        import argparse
        from arno import Task
        parser = argparse.ArgumentParser()
        parser.add_argument("--batch_size", type=int, default=8)
        parser.add_argument("--lr", type=float, default=0.01)
        args = parser.parse_args()
        task = Task.init(project_name="scripts/argparse", task_name="parse first",
                         auto_resource_monitoring=False)
        print("TASK_ID", task.id)
    """,
        "--batch_size",
        "32",
        "--lr",
        "0.1",
    )
    assert proc.returncode == 0, proc.stderr
    params = {
        f"{p['section']}/{p['name']}": p
        for p in api.get(f"/api/v1/tasks/{task_id_of(proc)}/params").json()
    }
    assert params["Args/batch_size"]["value"] == "32"
    assert params["Args/batch_size"]["type"] == "int"
    assert params["Args/lr"]["value"] == "0.1"


def test_a_script_exiting_with_an_error_code_is_failed(sqlite_server, api, tmp_path):
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        import argparse
        from arno import Task
        task = Task.init(project_name="scripts/exit", task_name="bad arguments",
                         auto_resource_monitoring=False)
        print("TASK_ID", task.id)
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, required=True)
        parser.parse_args()
        """,
        "--epochs",
        "many",
    )
    assert proc.returncode == 2
    assert "invalid int value: 'many'" in proc.stderr
    tid = task_id_of(proc)
    task = api.get(f"/api/v1/tasks/{tid}").json()
    assert task["status"] == "failed"
    assert "exit code 2" in task["status_message"]
    assert any("invalid int value" in line for line in console_of(api, tid))


def test_sys_exit_zero_is_a_normal_end(sqlite_server, api, tmp_path):
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        import sys
        from arno import Task
        task = Task.init(project_name="scripts/exit", task_name="early stop",
                         auto_resource_monitoring=False)
        print("TASK_ID", task.id)
        sys.exit(0)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert api.get(f"/api/v1/tasks/{task_id_of(proc)}").json()["status"] == "completed"


def test_arguments_parsed_before_init_take_the_server_values_under_an_agent(
    sqlite_server, api, tmp_path
):
    """A script that parses first and calls Task.init after still gets the clone's values
    when it runs as that task (ARNO_TASK_ID), as under an agent."""
    created = api.post("/api/v1/tasks", json={
        "project": "scripts/remote", "name": "parse-first template",
        "hyperparams": [{"section": "Args", "name": "batch_size", "value": "64", "type": "int"}],
    })
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    proc = run_script(
        sqlite_server,
        tmp_path,
        """
        import argparse
        from arno import Task
        parser = argparse.ArgumentParser()
        parser.add_argument("--batch_size", type=int, default=8)
        args = parser.parse_args()
        print("BATCH", args.batch_size, type(args.batch_size).__name__)
        task = Task.init(auto_resource_monitoring=False)
        print("TASK_ID", task.id)
        """,
        "--batch_size",
        "16",
        env={"ARNO_TASK_ID": task_id},
    )
    assert proc.returncode == 0, proc.stderr
    assert "BATCH 64 int" in proc.stdout
    assert task_id_of(proc) == task_id
    assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "completed"

"""``Task.init`` run again by the same script: an empty earlier run is taken back
(``reuse_last_task_id``), a run that reported is kept and a new task made, and
``continue_last_task`` goes on reporting into the earlier task. Each run is a real process."""

from __future__ import annotations

import json

import pytest
from tests.sdk.test_user_scripts import run_script

from arno.core.errors import InvalidInput, NotFound
from arno.sdk import Task, set_session

SCRIPT = """
import sys
from arno import Task

opts = dict(arg.split("=", 1) for arg in sys.argv[1:])
kwargs = {{}}
if "reuse" in opts:
    kwargs["reuse_last_task_id"] = {{"True": True, "False": False}}.get(opts["reuse"],
                                                                   opts["reuse"])
if "resume" in opts:
    value = opts["resume"]
    kwargs["continue_last_task"] = (True if value == "True" else
                                    int(value) if value.isdigit() else value)
task = Task.init(project_name="reuse", task_name="{name}", auto_resource_monitoring=False,
                 **kwargs)
print("TASK_ID", task.id, "OFFSET", task.get_initial_iteration())
task.connect({{"run": opts.get("run", "0")}})
if opts.get("report") == "1":
    task.get_logger().report_scalar("loss", "train", 0.5, iteration=3)
"""


def _run(sdk, tmp_path, name: str, *args: str) -> tuple[str, int]:
    proc = run_script(sdk, tmp_path, SCRIPT.format(name=name), *args)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("TASK_ID"))
    _, task_id, _, offset = line.split()
    return task_id, int(offset)


def test_a_rerun_that_reported_nothing_reuses_the_task(sdk, tmp_path):
    first, _ = _run(sdk, tmp_path, "empty", "run=1")
    again, _ = _run(sdk, tmp_path, "empty", "run=2")
    assert again == first
    task = Task.get_task(task_id=first)
    assert task.status == "completed"
    # the reused task holds this run's parameters only
    assert task.get_parameters() == {"General/run": "2"}
    assert len(Task.get_tasks(project_name="reuse", task_name="^empty$")) == 1


def test_a_run_that_reported_is_never_overwritten(sdk, tmp_path):
    first, _ = _run(sdk, tmp_path, "reported", "report=1")
    second, _ = _run(sdk, tmp_path, "reported", "report=1")
    assert second != first
    assert Task.get_task(task_id=first).get_last_scalar_metrics()["loss"]["train"]["last"] == 0.5


def test_reuse_false_always_makes_a_new_task(sdk, tmp_path):
    first, _ = _run(sdk, tmp_path, "fresh", "reuse=False")
    second, _ = _run(sdk, tmp_path, "fresh", "reuse=False")
    assert first != second


def test_reuse_of_a_named_task_id(sdk, tmp_path):
    target, _ = _run(sdk, tmp_path, "named-target")
    other_home = tmp_path / "elsewhere"  # another machine: no last-task memory
    other_home.mkdir()
    again, _ = _run(sdk, other_home, "named-target", f"reuse={target}")
    assert again == target


def test_continue_last_task_keeps_what_was_reported(sdk, tmp_path):
    first, _ = _run(sdk, tmp_path, "long", "report=1")
    again, offset = _run(sdk, tmp_path, "long", "resume=True")
    assert again == first
    assert offset == 3  # reports go on after the last iteration
    task = Task.get_task(task_id=first)
    assert task.get_last_scalar_metrics()["loss"]["train"]["last"] == 0.5
    _, offset = _run(sdk, tmp_path, "long", "resume=100")
    assert offset == 100


def test_continue_a_task_that_does_not_exist(sdk, tmp_path):
    proc = run_script(sdk, tmp_path, SCRIPT.format(name="missing"), "resume=nosuchtask")
    assert proc.returncode != 0
    assert "NotFound" in proc.stderr and "nosuchtask" in proc.stderr


def test_the_memory_of_last_tasks_is_private(sdk, tmp_path):
    _run(sdk, tmp_path, "private")
    path = tmp_path / "client-home" / "last_tasks.json"
    assert path.stat().st_mode & 0o777 == 0o600
    (key,) = [k for k in json.loads(path.read_text()) if "private" in k]
    assert json.loads(key)[1:] == ["reuse", "private"]


def test_init_options_are_checked(sdk):
    with pytest.raises(InvalidInput, match="auto_connect_frameworks"):
        Task.init(project_name="reuse", task_name="bad", auto_connect_frameworks="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="auto_connect_arg_parser"):
        Task.init(project_name="reuse", task_name="bad", auto_connect_arg_parser=[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="output_uri"):
        Task.init(project_name="reuse", task_name="bad", output_uri="not a url")
    assert Task.current_task() is None


def test_frameworks_and_output_uri_are_kept(sdk):
    task = Task.init(project_name="reuse", task_name="options", reuse_last_task_id=False,
                     auto_connect_frameworks={"pytorch": False, "matplotlib": True},
                     output_uri="s3://models/city", auto_resource_monitoring=False,
                     auto_connect_streams=False)
    assert not task.framework_enabled("pytorch")
    assert task.framework_enabled("matplotlib") and task.framework_enabled("xgboost")
    assert Task.get_task(task_id=task.id).output_uri == "s3://models/city"
    task.close()


ARGS_SCRIPT = """
import argparse
from arno import Task

task = Task.init(project_name="reuse", task_name="args", reuse_last_task_id=False,
                 auto_resource_monitoring=False, auto_connect_arg_parser={{"token": False}})
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--token", default="s3cr3t")
parser.parse_args()
print("TASK_ID", task.id)
"""


def test_arguments_left_out_of_the_arg_parser_capture(sdk, tmp_path):
    proc = run_script(sdk, tmp_path, ARGS_SCRIPT.format())
    assert proc.returncode == 0, proc.stderr
    task_id = proc.stdout.split("TASK_ID")[1].split()[0]
    params = Task.get_task(task_id=task_id).get_parameters()
    assert params.get("Args/lr") == "0.1"
    assert "Args/token" not in params


def test_clone_many_makes_drafts_with_their_overrides(sdk):
    base = Task.create(project_name="reuse", task_name="base",
                       argparse_args=[("lr", 0.1), ("epochs", 3)])
    clones = Task.clone_many(base, [
        {"name": f"trial {i}", "hyperparams": {"Args/lr": 0.01 * (i + 1)}} for i in range(3)])
    assert [c.name for c in clones] == ["trial 0", "trial 1", "trial 2"]
    params = clones[2].get_parameters()
    assert params["Args/lr"] == "0.03" and params["Args/epochs"] == "3"
    assert all(c.status == "created" for c in clones)
    with pytest.raises(NotFound):
        Task.clone_many("no-such-task", [{"name": "x"}])


def test_nothing_configured_is_a_clear_error(tmp_path, monkeypatch):
    for name in ("ARNO_API_HOST", "ARNO_API_KEY", "ARNO_API_SECRET", "ARNO_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARNO_HOME", str(tmp_path))
    set_session(None)
    from arno.sdk import NotConfigured

    with pytest.raises(NotConfigured, match="arno up"):
        Task.init(project_name="p", task_name="t")
    monkeypatch.setenv("ARNO_AGENT_CONSOLE", "maybe")
    set_session(None)
    with pytest.raises(InvalidInput, match="ARNO_AGENT_CONSOLE"):
        Task.init(project_name="p", task_name="t")
    set_session(None)

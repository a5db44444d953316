"""The ClearML names Task gained for issue 11, as a user sees them: queries, moving a task,
waiting for a status, stop requests, progress, system tags, labels, the random seed and an
offline round trip. Against a live server."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from arno import StorageManager, Task
from arno.core.errors import Conflict, InvalidInput
from arno.sdk import _task_more

QUIET = {"auto_connect_streams": False, "auto_resource_monitoring": False}


def project() -> str:
    return f"surface/{uuid.uuid4().hex[:8]}"


def draft(project_name: str, name: str, tags: list[str] | None = None) -> Task:
    task = Task.create(project_name=project_name, task_name=name)
    if tags:
        task.set_tags(tags)
    return task


def test_query_tasks_get_by_name_and_get_all_filter(sdk):
    p = project()
    a = draft(p, "alpha-1", ["x"])
    b = draft(p, "alpha-2", ["y"])
    draft(p, "beta")
    assert set(Task.query_tasks(project_name=p, task_name="alpha")) == {a.id, b.id}
    assert Task.query_tasks(project_name=p, tags=["y"]) == [b.id]
    rows = Task.query_tasks(project_name=p, task_name="beta", additional_return_fields=["name"])
    assert [r["name"] for r in rows] == ["beta"]
    assert Task.get_by_name("alpha-2").id == b.id
    assert {t.id for t in Task.get_all(project=[p], name="alpha")} == {a.id, b.id}
    assert Task.get_project_id(p) == a.project
    assert Task.get_project_id("no/such/project/" + uuid.uuid4().hex) is None
    assert any(x["name"] == p for x in Task.get_projects())


def test_move_to_project_parent_tags_and_script_fields(sdk):
    p, q = project(), project()
    parent, task = draft(p, "parent"), draft(p, "child", ["keep", "drop"])
    task.move_to_project(new_project_name=q)
    assert Task.get_task(task.id).get_project_name() == q
    assert task.get_project_object()["name"] == q
    task.set_parent(parent)
    assert Task.get_task(task.id).parent == parent.id
    task.remove_tags("drop")
    assert task.get_tags() == ["keep"]
    task.set_system_tags(["hidden"])
    assert task.get_system_tags() == ["hidden"]
    task.set_repo("https://example.com/r.git", branch="main")
    task.set_script(entry_point="train.py")
    assert task.get_script()["repository"] == "https://example.com/r.git"
    assert task.get_script()["entry_point"] == "train.py"
    task.set_packages(["numpy==2.0.0"])
    assert task.get_requirements() == {"pip": "numpy==2.0.0"}
    task.set_base_docker("python:3.12 --ipc=host")
    assert task.get_base_docker() == "python:3.12 --ipc=host"
    task.comment = "hello"
    assert Task.get_task(task.id).comment == "hello"
    with pytest.raises(InvalidInput, match="progress"):
        task.set_progress("half")  # type: ignore[arg-type]
    task.set_progress(40)
    assert task.get_progress() == 40


def test_wait_for_status_returns_when_the_status_changes(sdk):
    task = Task.init(project_name=project(), task_name="waited", **QUIET)
    other = Task.get_task(task.id)
    threading.Timer(0.5, task.mark_completed).start()
    started = time.monotonic()
    other.wait_for_status(check_interval_sec=0.1)
    assert other.status == "completed" and time.monotonic() - started < 10
    failed = Task.create(project_name=project(), task_name="f")
    failed.mark_started()
    failed.mark_failed(status_message="boom")
    with pytest.raises(Conflict, match="failed"):
        failed.wait_for_status(check_interval_sec=0.1)


def test_stop_request_stops_and_calls_the_abort_callback(sdk, monkeypatch):
    monkeypatch.setattr(_task_more, "ABORT_POLL", 0.1)
    task = Task.init(project_name=project(), task_name="stoppable", **QUIET)
    assert task.is_current_task() and task.is_main_task() and Task.running_locally()
    assert task.task_id == task.id
    called = threading.Event()
    task.register_abort_callback(called.set)
    Task.get_task(task.id).stop_request(status_message="enough")
    assert called.wait(10)
    assert task.get_status() == "stopped" and "enough" in task.get_status_message()
    task.close()


def test_labels_are_a_configuration_object(sdk):
    task = Task.create(project_name=project(), task_name="labels")
    assert task.connect_label_enumeration({"cat": 1, "dog": 2, "puppy": 2}) == \
        {"cat": 1, "dog": 2, "puppy": 2}
    assert task.get_num_of_classes() == 2
    assert task.get_configuration_object_as_dict("Labels") == {"cat": 1, "dog": 2, "puppy": 2}
    with pytest.raises(InvalidInput, match="label"):
        task.set_model_label_enumeration({"cat": "one"})  # type: ignore[dict-item]


def test_random_seed_makes_two_runs_draw_the_same_numbers(sdk):
    draws = []
    for i in range(2):
        Task.set_random_seed(7)
        task = Task.init(project_name=project(), task_name=f"seed{i}", **QUIET)
        draws.append([random.random() for _ in range(3)])
        assert task.get_random_seed() == 7
        task.close()
    assert draws[0] == draws[1]
    Task.set_random_seed(_task_more.DEFAULT_SEED)
    with pytest.raises(InvalidInput):
        Task.set_random_seed("7")  # type: ignore[arg-type]


def test_offline_round_trip(sdk):
    Task.set_offline(True)
    try:
        assert Task.is_offline()
        task = Task.init(project_name=project(), task_name="offline", **QUIET)
        folder = task.get_offline_mode_folder()
        assert folder is not None and folder.is_dir()
        task.get_logger().report_scalar("loss", "train", 0.25, 3)
        task.close()
    finally:
        Task.set_offline(False)
    new_id = Task.import_offline_session(folder)
    imported = Task.get_task(new_id)
    assert imported.get_all_reported_scalars()["loss"]["train"]["y"] == [0.25]
    assert imported.get_reported_single_value("nothing") is None


def test_export_import_and_artifacts(sdk, tmp_path):
    task = Task.create(project_name=project(), task_name="source")
    task.set_parameters({"Args/lr": 0.1})
    task.upload_artifact("notes", "some text", wait_on_upload=True)
    copy = Task.import_task(task.export_task())
    assert copy.id != task.id and copy.get_parameter("Args/lr") == "0.1"
    copy.set_artifacts(list(task.artifacts.values()))
    assert set(copy.artifacts) == {"notes"}
    copy.delete_artifacts(["notes"])
    assert copy.artifacts == {}
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100_000)
    assert b"".join(StorageManager.get_stream(str(path), chunk_size=4096)) == path.read_bytes()

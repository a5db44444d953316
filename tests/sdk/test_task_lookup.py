"""Finding tasks again and reading what they reported; parameters of every shape; clones; a
completed task refusing changes; the machine monitor. Against a live server."""

from __future__ import annotations

import time
import uuid

import pytest

from arno import Task
from arno.core.errors import Immutable, NotFound

QUIET = {"auto_connect_streams": False, "auto_resource_monitoring": False}


def project() -> str:
    return f"lookup/{uuid.uuid4().hex[:8]}"


def run(project_name: str, name: str, tags: list[str] | None = None, fail: bool = False) -> Task:
    task = Task.init(project_name=project_name, task_name=name, tags=tags or [], **QUIET)
    task.get_logger().report_scalar("loss", "train", 0.5, 0)
    if fail:
        task.mark_failed(status_message="diverged")
    task.close()
    return task


def test_get_tasks_filters_and_get_task_finds_the_newest_of_a_name(sdk):
    p = project()
    old18 = run(p, "resnet-18", ["cnn"])
    r50 = run(p, "resnet-50", ["cnn", "big"], fail=True)
    vit = run(p, "vit-base", ["transformer"])
    new18 = run(p, "resnet-18", ["cnn"])
    run(project(), "resnet-18", ["cnn"])  # same name elsewhere: never matched below

    def ids(**kw):
        return {t.id for t in Task.get_tasks(project_name=p, **kw)}

    assert ids() == {old18.id, r50.id, vit.id, new18.id}
    assert ids(task_name=r"^resnet-\d+$") == {old18.id, r50.id, new18.id}
    assert ids(task_name="vit") == {vit.id}
    assert ids(tags=["cnn"]) == {old18.id, r50.id, new18.id}
    assert ids(tags=["cnn", "big"]) == {r50.id}
    assert ids(task_name="resnet", status=["completed"]) == {old18.id, new18.id}
    assert ids(status="failed") == {r50.id}
    assert ids(task_name="^nothing$") == set()
    assert [t.id for t in Task.get_tasks(task_ids=[vit.id, r50.id])] == [vit.id, r50.id]

    newest = Task.get_task(project_name=p, task_name="resnet-18")
    assert newest.id == new18.id
    assert newest.status == "completed"
    failed = Task.get_task(project_name=p, task_name="resnet-50")
    assert (failed.status, failed.data["status_message"]) == ("failed", "diverged")
    with pytest.raises(NotFound):
        Task.get_task(project_name=p, task_name="resnet")  # a name, not a pattern
    with pytest.raises(NotFound):
        Task.get_task(task_id=uuid.uuid4().hex)


def test_reported_scalars_thinned_keep_extremes_and_console_tail(sdk):
    task = Task.init(project_name=project(), task_name="long run", auto_resource_monitoring=False)
    log = task.get_logger()
    n = 10_000
    for it in range(n):
        value = (it % 100) / 100
        if it == 5003:
            value = 50.0
        if it == 7777:
            value = -20.0
        log.report_scalar("loss", "train", value, it)
    for i in range(30):
        print(f"epoch {i} done")
    assert task.flush(wait_for_uploads=True)

    full = task.get_reported_scalars()["loss"]["train"]
    assert full["x"] == list(range(n))
    thin = task.get_reported_scalars(max_samples=100)["loss"]["train"]
    assert 30 <= len(thin["x"]) <= 101
    assert thin["x"] == sorted(thin["x"])
    assert thin["x"][0] == 0 and thin["x"][-1] == n - 1
    assert max(thin["y"]) == 50.0 and min(thin["y"]) == -20.0
    assert dict(zip(thin["x"], thin["y"], strict=True))[5003] == 50.0
    last = task.get_last_scalar_metrics()["loss"]["train"]
    assert (last["min"], last["max"], last["last"]) == (-20.0, 50.0, 0.99)

    assert task.get_reported_console_output(5) == [f"epoch {i} done" for i in range(25, 30)]
    assert task.get_reported_console_output(1) == ["epoch 29 done"]
    task.close()


class Optimizer:
    def __init__(self) -> None:
        self.lr = 0.1
        self.momentum = 0.9
        self.kind = "sgd"
        self.nesterov = False
        self._secret = "not a parameter"

    def step(self) -> None:  # methods are not parameters
        pass


def test_connect_objects_nested_dicts_configurations_and_properties(sdk, tmp_path):
    task = Task.init(project_name=project(), task_name="inputs", **QUIET)
    opt = task.connect(Optimizer(), name="Optimizer")
    assert (opt.lr, opt.kind, opt._secret) == (0.1, "sgd", "not a parameter")
    nested = {
        "model": {"depth": 3, "act": "relu"},
        "data": {"aug": {"flip": True}},
        "seeds": [1, 2],
    }
    assert task.connect(nested) is nested
    assert nested == {
        "model": {"depth": 3, "act": "relu"},
        "data": {"aug": {"flip": True}},
        "seeds": [1, 2],
    }

    params = task.get_parameters()
    assert params == {
        "Optimizer/lr": "0.1",
        "Optimizer/momentum": "0.9",
        "Optimizer/kind": "sgd",
        "Optimizer/nesterov": "False",
        "General/model/depth": "3",
        "General/model/act": "relu",
        "General/data/aug/flip": "True",
        "General/seeds": "[1, 2]",
    }
    cast = task.get_parameters(cast=True)
    assert cast["Optimizer/lr"] == 0.1 and cast["Optimizer/nesterov"] is False
    assert cast["General/model/depth"] == 3 and cast["General/seeds"] == [1, 2]
    assert task.get_parameters_as_dict()["Optimizer"]["kind"] == "sgd"

    text = "lr: 0.1\nepochs: 3\n"
    assert task.connect_configuration(text, name="recipe") == text
    yaml_file = tmp_path / "augment.yaml"
    yaml_file.write_text("flip: true\nrotate: 15\n")
    assert (
        task.connect_configuration(yaml_file, name="augment", description="augmentation")
        == yaml_file
    )
    assert task.connect_configuration(str(yaml_file), name="augment-str") == str(yaml_file)
    assert task.get_configuration_object("recipe") == text
    assert task.get_configuration_object("augment") == "flip: true\nrotate: 15\n"
    configs = {
        c["name"]: c for c in sdk.client().get(f"/api/v1/tasks/{task.id}/configurations").json()
    }
    assert configs["augment"]["type"] == "yaml"
    assert configs["augment"]["description"] == "augmentation"
    assert configs["recipe"]["type"] == "text"

    assert task.set_user_properties({"name": "dataset", "value": "v2"}, gpus=2)
    assert task.set_user_properties(("owner", "ml-team"))
    props = Task.get_task(task_id=task.id).get_user_properties()
    assert props == {"dataset": "v2", "gpus": 2, "owner": "ml-team"}
    task.close()


def test_clone_is_an_editable_copy_and_a_completed_task_is_immutable(sdk):
    source = Task.init(project_name=project(), task_name="baseline", tags=["base"], **QUIET)
    source.connect({"lr": 0.1, "epochs": 5})
    source.connect_configuration({"scaler": "minmax"}, name="preprocessing")
    source.get_logger().report_scalar("loss", "train", 0.3, 0)
    source.mark_completed()
    assert source.status == "completed"

    with pytest.raises(Immutable) as info:
        source.set_parameters({"General/lr": 0.5})
    assert info.value.status == 409
    assert "clone it" in info.value.message
    with pytest.raises(Immutable):
        source.connect_configuration({"scaler": "standard"}, name="preprocessing")
    assert source.get_parameter("General/lr") == "0.1"

    clone = Task.clone(source, name="baseline lr=0.5")
    assert clone.id != source.id
    assert clone.status == "created"
    assert clone.data["parent_id"] == source.id
    assert clone.get_project_name() == source.get_project_name()
    assert clone.get_parameters() == source.get_parameters()
    assert clone.get_configuration_object_as_dict("preprocessing") == {"scaler": "minmax"}
    assert clone.get_reported_scalars() == {}  # outputs stay with the source
    clone.set_parameters({"General/lr": 0.5})
    assert clone.get_parameter("General/lr") == "0.5"
    assert source.get_parameter("General/lr") == "0.1"
    by_id = Task.clone(source.id)
    assert by_id.name == "baseline (clone)"
    source.close()


def test_machine_monitor_reports_while_the_task_runs(sdk):
    task = Task.init(
        project_name=project(),
        task_name="monitored",
        auto_connect_streams=False,
        monitor_interval=0.2,
    )
    time.sleep(1.2)
    assert task.flush(wait_for_uploads=True)
    monitor = task.get_reported_scalars().get(":monitor:machine")
    assert monitor, "no machine statistics were reported"
    assert {"cpu_usage", "memory_usage", "memory_used_gb", "disk_free_percent"} <= set(monitor)
    assert 0 <= monitor["cpu_usage"]["y"][-1] <= 100
    assert 0 < monitor["memory_usage"]["y"][-1] <= 100
    task.close()


def test_get_task_by_name_is_exact_even_behind_many_similar_names(sdk):
    p = project()
    base = run(p, "baseline")
    for _ in range(60):  # a sweep: "baseline (clone)" many times, all newer
        Task.clone(base)
    assert len(Task.get_tasks(project_name=p)) == 61
    assert Task.get_task(project_name=p, task_name="baseline").id == base.id
    newest_clone = Task.get_task(project_name=p, task_name="baseline (clone)")
    assert newest_clone.id != base.id and newest_clone.status == "created"


def test_archived_tasks_are_found_unless_excluded(sdk):
    p = project()
    shelved = run(p, "shelved")
    shelved.set_archived(True)
    assert Task.get_task(project_name=p, task_name="shelved").id == shelved.id
    assert [t.id for t in Task.get_tasks(project_name=p)] == [shelved.id]
    assert Task.get_tasks(project_name=p, allow_archived=False) == []
    with pytest.raises(NotFound):
        Task.get_task(project_name=p, task_name="shelved", allow_archived=False)

"""Parameters declared as a class (``arno.task_parameters``) and the search ranges of
``arno.automation``: typed round trips through the hook ``Task.connect`` uses, bad values
refused whole, and a class connected to a real task on a live server."""

from __future__ import annotations

import uuid

import pytest

from arno.automation import (
    DiscreteParameterRange,
    LogUniformParameterRange,
    ParameterSet,
    UniformIntegerParameterRange,
    UniformParameterRange,
)
from arno.automation.parameters import Parameter, RandomSeed
from arno.core.errors import InvalidInput
from arno.task_parameters import TaskParameters, param, percent_param


class Optim(TaskParameters):
    lr = param(type=float, default=0.001, range=(0, 1), desc="learning rate")
    nesterov = param(type=bool, default=False)


class Training(TaskParameters):
    epochs = param(type=int, default=10, range=(1, 1000), desc="passes over the data")
    dropout = percent_param(default=0.1, desc="share of units dropped")
    arch = param(type=str, default="resnet18")
    seed = param(default=7)  # untyped: text takes the type of the value it replaces
    layers = param(type=int, factory=lambda: 3)
    optim = param(factory=Optim)


def test_to_dict_and_update_from_dict_round_trip_with_the_declared_types():
    params = Training(epochs=5)
    assert params.to_dict() == {"epochs": 5, "dropout": 0.1, "arch": "resnet18", "seed": 7,
                                "layers": 3, "optim": {"lr": 0.001, "nesterov": False}}
    # what an agent's run holds: text, as the server stores parameters
    params.update_from_dict({"epochs": "20", "dropout": "0.25", "arch": "vit", "seed": "42",
                             "layers": "4.0", "optim/lr": "0.1", "optim/nesterov": "true"})
    assert (params.epochs, params.dropout, params.arch, params.seed, params.layers) == (
        20, 0.25, "vit", 42, 4)
    assert (params.optim.lr, params.optim.nesterov) == (0.1, True)
    assert type(params.epochs) is int and type(params.dropout) is float
    params.update_from_dict({"epochs": 30, "optim": {"lr": 1}})  # typed values work too
    assert (params.epochs, params.optim.lr) == (30, 1.0) and type(params.optim.lr) is float
    assert Training(**{k: v for k, v in params.to_dict().items() if k != "optim"}
                    ).to_dict()["epochs"] == 30


@pytest.mark.parametrize("bad", [
    {"epochs": "ten"},                      # not a number
    {"epochs": "2.5"},                      # not whole
    {"epochs": "5000"},                     # out of range
    {"dropout": "1.5"},                     # a percentage above 1
    {"optim/nesterov": "maybe"},            # not a boolean
    {"no_such": 1},                         # not declared
    {"optim/momentum": 0.9},                # not declared in the nested class
])
def test_a_bad_value_is_refused_naming_it_and_nothing_changes(bad):
    params = Training()
    before = params.to_dict()
    with pytest.raises(InvalidInput, match=next(iter(bad)).split("/")[-1]):
        params.update_from_dict({"arch": "changed", "epochs": 11, **bad})
    assert params.to_dict() == before


def test_declaration_errors_are_clear():
    class Needs(TaskParameters):
        size = param(type=int)
    with pytest.raises(InvalidInput, match="size"):
        Needs()
    assert Needs(3).size == 3 and Needs(size="4").size == 4
    with pytest.raises(InvalidInput, match="no parameter"):
        Training(epoch=3)
    with pytest.raises(InvalidInput, match="range"):
        Training(dropout=2)
    with pytest.raises(InvalidInput, match="unknown"):
        param(type=int, default=1, frobnicate=True)

    seen = []

    def even(instance, attribute, value):
        seen.append(attribute.name)
        if value % 2:
            raise ValueError(f"{attribute.name} must be even")

    class Custom(TaskParameters):
        batch = param(even, type=int, default=8)
    assert Custom().batch == 8 and seen == ["batch"]
    with pytest.raises(InvalidInput, match="batch must be even"):
        Custom().update_from_dict({"batch": "7"})


def test_connect_records_the_values_on_a_real_task(sdk):
    from arno import Task

    task = Task.init(project_name=f"params/{uuid.uuid4().hex[:8]}", task_name="class params",
                     auto_connect_streams=False, auto_resource_monitoring=False)
    params = Training(epochs=12)
    assert task.connect(params) is params
    stored = Task.get_task(task_id=task.id).get_parameters()
    assert stored["General/epochs"] == "12" and stored["General/arch"] == "resnet18"
    assert float(stored["General/dropout"]) == 0.1
    task.close()


def test_ranges_list_and_draw_values():
    assert UniformIntegerParameterRange("epochs", 1, 5, step_size=2).to_list() == [
        {"epochs": 1}, {"epochs": 3}, {"epochs": 5}]
    assert UniformIntegerParameterRange("e", 1, 5, 2, include_max_value=False).to_list() == [
        {"e": 1}, {"e": 3}]
    assert [v["lr"] for v in UniformParameterRange("lr", 0, 1, step_size=0.25).to_list()] == [
        0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(UniformParameterRange("x", 0, 1).to_list()) == 101  # 100 steps and the max
    assert [round(v["lr"], 9) for v in LogUniformParameterRange("lr", -3, -1, step_size=1
                                                                ).to_list()] == [0.001, 0.01, 0.1]
    assert DiscreteParameterRange("opt", ["adam", "sgd"]).to_list() == [
        {"opt": "adam"}, {"opt": "sgd"}]
    combos = ParameterSet([{"arch": "small", "width": DiscreteParameterRange("width", [8, 16])},
                           {"arch": "big", "width": 64}])
    assert combos.to_list() == [{"arch": "small", "width": 8}, {"arch": "small", "width": 16},
                                {"arch": "big", "width": 64}]

    RandomSeed.set_random_seed(5)
    draws = [UniformParameterRange("x", 2, 3).get_value()["x"] for _ in range(50)]
    ints = {UniformIntegerParameterRange("n", 0, 4, 2).get_value()["n"] for _ in range(100)}
    RandomSeed.set_random_seed(5)
    assert [UniformParameterRange("x", 2, 3).get_value()["x"] for _ in range(50)] == draws
    assert all(2 <= d <= 3 for d in draws) and ints == {0, 2, 4}
    assert combos.get_value()["arch"] in ("small", "big")
    assert RandomSeed.get_random_seed() == 5
    RandomSeed.set_random_seed()

    again = Parameter.from_dict(combos.to_dict())
    assert isinstance(again, ParameterSet) and again.to_list() == combos.to_list()
    with pytest.raises(InvalidInput):
        UniformParameterRange("x", 3, 1)
    with pytest.raises(InvalidInput):
        UniformIntegerParameterRange("x", 0, 10, step_size=0)
    with pytest.raises(InvalidInput):
        DiscreteParameterRange("x", []).get_value()
    with pytest.raises(InvalidInput):
        Parameter.from_dict({"type": "NoSuchRange"})

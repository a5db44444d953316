"""A task's models against a live server: InputModel by name, connecting it (recorded, seen in
task.models and the model's consumers, swapped under an agent), query_models filters, remove,
and ClearML's Task names for models and the model design."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from arno import InputModel, Model, OutputModel, Task
from arno.client._models import ModelClient
from arno.core.errors import Conflict, InvalidInput, NotFound
from arno.sdk import _context

QUIET = {"auto_connect_streams": False, "auto_resource_monitoring": False,
         "auto_connect_frameworks": False}


def project() -> str:
    return f"models-task/{uuid.uuid4().hex[:8]}"


def start(name: str, p: str | None = None) -> Task:
    return Task.init(project_name=p or project(), task_name=name, **QUIET)


def another(name: str, p: str | None = None) -> Task:
    """A second task while one runs (``Task.init`` would return the running one)."""
    return Task.create(project_name=p or project(), task_name=name, detect_repository=False)


def stored(task: Task, name: str, tmp_path: Path, data: bytes = b"w", *,
           tags: list[str] | None = None, publish: bool = False,
           meta: dict[str, str] | None = None) -> OutputModel:
    f = tmp_path / f"{uuid.uuid4().hex}.bin"
    f.write_bytes(data * 50)
    model = OutputModel(task=task, name=name, tags=tags)
    for k, v in (meta or {}).items():
        model.set_metadata(k, v)
    model.update_weights(weights_filename=str(f))
    if publish:
        model.publish()
    return model


def test_input_model_by_name_connect_and_task_models(server, sdk, tmp_path):
    trainer = start("trainer")
    p = trainer.get_project_name()
    old = stored(trainer, "resnet", tmp_path, b"a", tags=["cnn"], publish=True)
    new = stored(trainer, "resnet", tmp_path, b"b", tags=["cnn"])
    stored(trainer, "resnet-big", tmp_path, b"c")
    assert InputModel(name="resnet", project=p).id == new.id  # the newest of that name
    assert InputModel(name="resnet", project=p, only_published=True).id == old.id
    assert InputModel(name="resnet", project=p, tags=["cnn"]).id == new.id
    with pytest.raises(NotFound):
        InputModel(name="resnet", project=p, tags=["nope"])
    outputs = trainer.models["output"]
    assert [m.name for m in outputs] == ["resnet", "resnet", "resnet-big"]
    assert outputs["resnet"].id == new.id and outputs[-1].name == "resnet-big"
    assert trainer.output_models_id["resnet-big"] == outputs[-1].id
    trainer.close()

    user = start("evaluate", p)
    base = InputModel(model_id=old.id)
    assert user.connect(base, name="backbone") is base
    user.connect(InputModel(name="resnet-big", project=p))
    found = user.get_models()
    assert [m.id for m in found["input"]] == [old.id, outputs[-1].id] or \
        {m.id for m in found["input"]} == {old.id, outputs[-1].id}
    assert found["input"]["resnet"].id == old.id  # indexed by model name
    assert user.input_models_id == {"backbone": old.id, "resnet-big": outputs[-1].id}
    assert found["output"] == []
    lineage = ModelClient(_context.session()).lineage(old.id)
    assert [(c["task_id"], c["name"]) for c in lineage["consumers"]] == [(user.id, "backbone")]
    assert lineage["task"]["id"] == trainer.id

    user.remove_input_models(["resnet-big"])
    assert user.input_models_id == {"backbone": old.id}
    user.remove_input_models([Model(old.id)])
    assert user.input_models_id == {}
    user.close()


def test_under_an_agent_connect_takes_the_servers_model(sdk, tmp_path):
    trainer = start("trainer")
    p = trainer.get_project_name()
    first = stored(trainer, "base", tmp_path, b"1")
    second = stored(trainer, "base v2", tmp_path, b"2")
    trainer.close()

    run = start("to clone", p)
    run.connect(InputModel(first.id), name="base")
    assert run.input_models_id == {"base": first.id}
    # the user swaps the clone's model on the server, then an agent runs the script
    ModelClient(_context.session()).use_input(run.id, "base", second.id)
    run._parameters.remote = {}  # as Task.init attached under an agent
    model = InputModel(first.id)
    run.connect(model, name="base")
    assert model.id == second.id and model.name == "base v2"
    assert Path(model.get_local_copy()).read_bytes() == b"2" * 50
    model = InputModel(first.id)
    run.connect(model, name="base", ignore_remote_overrides=True)
    assert model.id == first.id and run.input_models_id == {"base": first.id}
    run._parameters.remote = None
    run.close()


def test_query_models_filters(sdk, tmp_path):
    task = start("query")
    p = task.get_project_name()
    a = stored(task, "alpha", tmp_path, tags=["prod", "cnn"], publish=True,
               meta={"dataset": "v1"})
    b = stored(task, "alpha-2", tmp_path, tags=["cnn"], meta={"dataset": "v2"})
    c = stored(task, "beta", tmp_path, tags=["prod"])
    c.archive()
    other = another("elsewhere")
    stored(other, "alpha", tmp_path)

    def ids(**kw):
        return [m.id for m in Model.query_models(project_name=p, **kw)]

    assert ids() == [b.id, a.id]  # newest first, archived left out
    assert set(ids(include_archived=True)) == {a.id, b.id, c.id}
    assert ids(model_name="alpha") == [b.id, a.id]
    assert ids(tags=["prod"]) == [a.id]
    assert ids(tags=["cnn", "-prod"]) == [b.id]
    assert ids(only_published=True) == [a.id]
    assert ids(metadata={"dataset": "v2"}) == [b.id]
    assert ids(max_results=1) == [b.id]
    assert len(Model.query_models(model_name="alpha", max_results=500)) >= 3
    found = Model.query_models(project_name=p, model_name="alpha-2")[0]
    assert isinstance(found, Model) and found.get_metadata("dataset") == "v2"
    task.close()


def test_remove(sdk, tmp_path):
    task = start("remove")
    published = stored(task, "kept", tmp_path, publish=True)
    draft = stored(task, "draft", tmp_path)
    assert Model.remove(draft.id) is True
    with pytest.raises(NotFound):
        Model(draft.id)
    assert Model.remove(Model(published.id)) is False  # published: force needed
    with pytest.raises(Conflict):
        Model.remove(published.id, raise_on_errors=True)
    assert Model.remove(published, force=True) is True
    assert Model.remove(uuid.uuid4().hex) is False
    task.close()


def test_task_model_names_of_clearml(sdk, tmp_path):
    task = start("names")
    p = task.get_project_name()
    # the model design (the configuration object "General", as ClearML)
    task.set_model_config(config_dict={"layers": [64, 32]})
    assert task.get_model_config_dict() == {"layers": [64, 32]}
    assert json.loads(task.get_model_design()) == {"layers": [64, 32]}
    task.set_model_config(config_text="depth: 4\n")
    assert task.get_model_config_text() == "depth: 4\n"
    desc = tmp_path / "desc.txt"
    desc.write_text("a design file")
    task.update_model_desc(str(desc))
    assert task.get_model_design() == "a design file"
    with pytest.raises(InvalidInput):
        task.update_model_desc(str(tmp_path / "missing.txt"))
    path = Path(task.save_exec_model_design_file())
    assert path.name == "model_design.txt" and path.read_text() == "a design file"
    task.set_model_config(config_text="changed")
    assert Path(task.save_exec_model_design_file(use_cache=True)).read_text() == "a design file"
    assert Path(task.save_exec_model_design_file("d.txt")).read_text() == "changed"

    weights = tmp_path / "out.bin"
    weights.write_bytes(b"o" * 100)
    uri = task.update_output_model(str(weights), name="best", tags=["t"], iteration=3,
                                   comment="c")
    assert not weights.exists()
    model = task.models["output"]["names - best"]
    assert (model.url, model.tags, model.comment, model.iteration) == (uri, ["t"], "c", 3)
    weights.write_bytes(b"p" * 100)
    task.update_output_model(str(weights), model_name="explicit", auto_delete_file=False)
    assert set(task.output_models_id) == {"names - best", "explicit"}

    published = OutputModel(task=task, name="pub", config_text="from the model",
                            label_enumeration={"cat": 3})
    published.update_weights(weights_filename=str(weights), auto_delete_file=False)
    published.publish()
    user = another("uses", p)
    user.set_input_model(model_name="pub", name="backbone")
    assert user.input_models_id == {"backbone": published.id}
    assert user.get_model_design() == "from the model"
    assert user.get_labels_enumeration() == {"cat": 3}
    user.set_input_model(model_id=model.id, update_task_design=False)
    assert user.input_models_id == {"backbone": published.id, "names - best": model.id}
    assert user.get_model_design() == "from the model"
    with pytest.raises(InvalidInput):
        user.set_input_model()
    task.close()


def test_output_model_connected_to_a_task(sdk, tmp_path):
    task = start("connect output")
    model = OutputModel(task=None, name="late")  # current task
    other = another("second")
    other.connect(model)
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"x" * 10)
    model.update_weights(weights_filename=str(weights))
    assert Model(model.id).task == other.id
    assert other.models["output"]["late"].id == model.id
    task.close()

"""A task's models, as a mixin of :class:`arno.sdk.Task` with ClearML's names: the models it
uses (input, each under a name) and the models it created (output), connecting a model,
and the task's model design.

The model design of a task is its configuration object ``General`` (where ClearML keeps it);
a ``config_dict`` is stored as JSON text.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arno.core.errors import InvalidInput

if TYPE_CHECKING:
    from arno.sdk._model_base import BaseModel, ModelList

DESIGN = "General"
"""The configuration object holding the task's model design."""


class TaskModels:
    """Mixed into ``Task``: it provides ``id``, ``name``, ``_session`` and the configuration
    methods used here."""

    _session: Any

    if TYPE_CHECKING:  # Task's, used here
        @property
        def id(self) -> str: ...

        @property
        def name(self) -> str: ...

        def get_configuration_object(self, name: str) -> str | None: ...

        def set_configuration_object(self, name: str, config_text: str | None = None,
                                     description: str | None = None,
                                     config_type: str | None = None,
                                     config_dict: dict[str, Any] | None = None) -> None: ...

    # ---- the task's models -----------------------------------------------------------------
    @property
    def models(self) -> dict[str, ModelList]:
        """``{"input": [...], "output": [...]}``: lists of ``Model`` objects, oldest first,
        also indexed by name (``task.models["output"]["best"]``)."""
        return self.get_models()

    def get_models(self) -> dict[str, ModelList]:
        from arno.sdk._model import Model
        from arno.sdk._model_base import ModelList, client

        found = client(self._session).task_models(self.id)
        out: dict[str, ModelList] = {}
        for side in ("input", "output"):
            out[side] = ModelList(Model._wrap(item["model"], self._session)
                                  for item in found[side])
        return out

    @property
    def input_models_id(self) -> dict[str, str]:
        """``{name the task uses it under: model id}``."""
        from arno.sdk._model_base import client

        found = client(self._session).task_models(self.id)["input"]
        return {item["name"]: item["model"]["id"] for item in found}

    @property
    def output_models_id(self) -> dict[str, str]:
        """``{model name: model id}`` of the models the task created (the newest of a
        name)."""
        from arno.sdk._model_base import client

        found = client(self._session).task_models(self.id)["output"]
        return {item["name"]: item["model"]["id"] for item in found}

    def _connect_model(self, model: Any, name: str | None = None,
                       ignore_remote_overrides: bool = False) -> Any:
        """``Task.connect`` of an InputModel (the use recorded, or the agent's model taken)
        or an OutputModel (it becomes this task's)."""
        from arno.sdk._model import InputModel, Model
        from arno.sdk._model_output import OutputModel

        if isinstance(model, OutputModel):
            model.connect(self, name)  # type: ignore[arg-type]
        elif isinstance(model, InputModel):
            model.connect(self, name,  # type: ignore[arg-type]
                          ignore_remote_overrides=ignore_remote_overrides)
        elif isinstance(model, Model):
            InputModel.connect(model, self, name,  # type: ignore[arg-type]
                               ignore_remote_overrides=ignore_remote_overrides)
        return model

    def set_input_model(self, model_id: str | None = None, model_name: str | None = None,
                        update_task_design: bool = True, update_task_labels: bool = True,
                        name: str | None = None) -> None:
        """Use a model as input, by id or by name (the newest published model of that name).
        Its design and labels become the task's unless told otherwise."""
        from arno.sdk._model import InputModel
        from arno.sdk._model_base import client

        if not model_id and not model_name:
            raise InvalidInput("set_input_model takes model_id or model_name")
        model = (InputModel(model_id=model_id) if model_id
                 else InputModel(name=model_name, only_published=True))
        client(self._session).use_input(self.id, name or model.name, model.id)
        if update_task_design and model.config_text:
            self.set_model_config(config_text=model.config_text)
        if update_task_labels and model.labels:
            self.set_configuration_object("Labels", config_dict=dict(model.labels))

    def remove_input_models(self, models_to_remove: Sequence[str | BaseModel]) -> None:
        """Stop using these input models: each given by the name the task uses it under, by
        model id, or as a model object."""
        from arno.sdk._model_base import BaseModel, client

        models = client(self._session)
        uses = {item["name"]: item["model"]["id"]
                for item in models.task_models(self.id)["input"]}
        drop: set[str] = set()
        for item in models_to_remove:
            key = item.id if isinstance(item, BaseModel) else str(item)
            drop.update(n for n, mid in uses.items() if n == key or mid == key)
        for use in sorted(drop):
            models.remove_input(self.id, use)

    def update_output_model(self, model_path: str, name: str | None = None,
                            comment: str | None = None, tags: Sequence[str] | None = None,
                            model_name: str | None = None, iteration: int | None = None,
                            auto_delete_file: bool = True) -> str:
        """Store ``model_path`` as an output model of the task (named ``model_name``, else
        "<task name> - <name>", else the task's name); returns the weights' URI."""
        from arno.sdk._model_output import OutputModel

        model = OutputModel(task=self,  # type: ignore[arg-type]
                            name=model_name or (f"{self.name} - {name}" if name else self.name),
                            tags=list(tags or []), comment=comment)
        return model.update_weights(weights_filename=model_path, iteration=iteration,
                                    auto_delete_file=auto_delete_file)

    # ---- the task's model design -----------------------------------------------------------
    def update_model_desc(self, new_model_desc_file: str | None = None) -> None:
        """The text of ``new_model_desc_file`` becomes the task's model design."""
        if not new_model_desc_file:
            raise InvalidInput("update_model_desc needs new_model_desc_file")
        path = Path(new_model_desc_file).expanduser()
        if not path.is_file():
            raise InvalidInput(f"model design file not found: {path}")
        self.set_model_config(config_text=path.read_text())

    def get_model_design(self) -> str:
        return self.get_configuration_object(DESIGN) or ""

    def get_model_config_text(self) -> str:
        return self.get_model_design()

    def get_model_config_dict(self) -> dict[str, Any]:
        from arno.sdk._model_base import design_dict

        return design_dict(self.get_model_design())

    def set_model_config(self, config_text: str | None = None,
                         config_dict: Mapping[str, Any] | None = None) -> None:
        from arno.sdk._model_base import design_text

        text = design_text(config_text, dict(config_dict) if config_dict is not None else None)
        if text is None:
            raise InvalidInput("set_model_config takes config_text or config_dict")
        self.set_configuration_object(DESIGN, config_text=text)

    def save_exec_model_design_file(self, filename: str = "model_design.txt",
                                    use_cache: bool = False) -> str:
        """Write the task's model design to ``filename`` in a temporary folder (reused with
        ``use_cache`` when already written) and return its path."""
        folder = Path(tempfile.gettempdir()) / f"arno-model-design-{self.id}"
        path = folder / Path(filename).name
        if use_cache and path.is_file():
            return str(path)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(self.get_model_design())
        return str(path)

"""A task's inputs: hyperparameters (``connect``, ``set_parameters``...) and configuration
objects (``connect_configuration``...), as ``Task`` exposes them.

When an agent runs the task, the values stored on the server win over the script's: ``connect``
returns the object updated with them, cast back to the types the script connected.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from arno.client._tasks import TaskClient
from arno.core.errors import InvalidInput
from arno.sdk import _params

GENERAL = "General"


def param_row(section: str, name: str, value: Any, description: str | None = None
              ) -> dict[str, Any]:
    row = {"section": section, "name": name, "value": _params.to_text(value),
           "type": _params.type_name(value)}
    if description:
        row["description"] = description
    return row


def split_key(key: str) -> tuple[str, str]:
    """"Section/name" → (section, name); a name without section is in "General"."""
    section, sep, name = key.partition("/")
    return (section, name) if sep else (GENERAL, key)


class TaskParameters:
    """The parameters and configuration of one task."""

    def __init__(self, client: TaskClient, task_id: str,
                 remote: dict[str, str] | None = None) -> None:
        self._client = client
        self._task_id = task_id
        self.remote = remote
        """``{"Section/name": text}`` stored on the server when an agent runs the task."""

    # ---- connect -----------------------------------------------------------------------------
    def connect(self, mutable: Any, name: str | None = None) -> Any:
        if isinstance(mutable, argparse.Namespace):
            values = dict(vars(mutable))
            self.connect_values(name or "Args", values)
            for key, value in values.items():
                setattr(mutable, key, value)
            return mutable
        if hasattr(mutable, "to_dict") and hasattr(mutable, "update_from_dict"):
            return self._connect_declared(mutable, name or GENERAL)
        if isinstance(mutable, dict):
            flat = _params.flatten(mutable)
            merged = self.connect_values(name or GENERAL, dict(flat))
            for key, value in merged.items():
                if flat.get(key) is not value:
                    _params.update_nested(mutable, key, value)
            return mutable
        if isinstance(mutable, list | tuple | str | int | float | bool) or mutable is None:
            raise InvalidInput("connect takes a dict, an argparse namespace or an object, got "
                               f"{type(mutable).__name__}")
        attrs = {k: v for k, v in vars(mutable).items()
                 if not k.startswith("_") and not callable(v)}
        merged = self.connect_values(name or GENERAL, attrs)
        for key, value in merged.items():
            setattr(mutable, key, value)
        return mutable

    def _connect_declared(self, obj: Any, section: str) -> Any:
        """A class declaring its parameters (``arno.task_parameters.TaskParameters``): it
        casts and checks the server's values itself, and describes its own."""
        if self.remote is not None:
            prefix = f"{section}/"
            stored = {k[len(prefix):]: v for k, v in self.remote.items() if k.startswith(prefix)}
            known = set(_params.flatten(obj.to_dict()))
            stored = {k: v for k, v in stored.items() if k in known}
            if stored:
                obj.update_from_dict(stored)
        descriptions: dict[str, Any] = {}
        if hasattr(type(obj), "__parameters__"):
            from arno.sdk._task_parameters import describe

            descriptions = describe(obj)
        rows = [param_row(section, key, value, (descriptions.get(key) or {}).get("description"))
                for key, value in _params.flatten(obj.to_dict()).items()]
        self._client.set_params(self._task_id, rows)
        return obj

    def connect_values(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        """Record ``values`` under ``section``; under an agent, first replace them (in place)
        with the server's, cast to the type of the script's value."""
        if self.remote is not None:
            for key, original in list(values.items()):
                stored = self.remote.get(f"{section}/{key}")
                if stored is not None:
                    values[key] = _params.cast(stored, _params.type_name(original))
        self._client.set_params(self._task_id,
                                [param_row(section, k, v) for k, v in values.items()])
        return values

    # ---- set and get ---------------------------------------------------------------------
    def set(self, values: dict[str, Any], descriptions: dict[str, str] | None = None) -> None:
        rows = []
        for key, value in values.items():
            section, pname = split_key(key)
            rows.append(param_row(section, pname, value, (descriptions or {}).get(key)))
        self._client.set_params(self._task_id, rows)

    def all(self, cast: bool = False) -> dict[str, Any]:
        return {
            f"{p['section']}/{p['name']}": (_params.cast(p["value"], p["type"]) if cast
                                            else p["value"])
            for p in self._client.params(self._task_id)
        }

    def as_dict(self, cast: bool = False) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, value in self.all(cast=cast).items():
            section, _, pname = key.partition("/")
            out.setdefault(section, {})[pname] = value
        return out

    def delete(self, name: str) -> None:
        self._client.delete_params(self._task_id, [name])

    # ---- configuration objects -----------------------------------------------------------
    def connect_configuration(self, configuration: Any, name: str | None, description: str | None,
                              cache_dir: Path) -> Any:
        name = name or GENERAL
        remote = None
        if self.remote is not None:
            remote = {c["name"]: c for c in self._client.configurations(self._task_id)}.get(name)
        if isinstance(configuration, dict):
            if remote is not None and remote["type"] == "dictionary":
                configuration.clear()
                configuration.update(json.loads(remote["value"]))
                return configuration
            item = {"name": name, "type": "dictionary",
                    "value": json.dumps(configuration, default=str, indent=2)}
        elif isinstance(configuration, str | Path) and Path(configuration).is_file():
            path = Path(configuration)
            if remote is not None:
                local = cache_dir / "config" / self._task_id / path.name
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_text(remote["value"])
                return local if isinstance(configuration, Path) else str(local)
            item = {"name": name, "type": path.suffix.lstrip(".") or "text",
                    "value": path.read_text(errors="replace")}
        elif isinstance(configuration, str):
            if remote is not None:
                return remote["value"]
            item = {"name": name, "type": "text", "value": configuration}
        else:
            raise InvalidInput("connect_configuration takes a dict, a text or a file path, got "
                               f"{type(configuration).__name__}")
        if description:
            item["description"] = description
        self._client.set_configurations(self._task_id, [item])
        return configuration

    def configuration_text(self, name: str) -> str | None:
        for item in self._client.configurations(self._task_id):
            if item["name"] == name:
                return str(item["value"])
        return None

    def configuration_names(self) -> dict[str, str]:
        return {c["name"]: c.get("description") or ""
                for c in self._client.configurations(self._task_id)}

    def set_configuration(self, name: str, config_text: str | None, description: str | None,
                          config_type: str | None, config_dict: dict[str, Any] | None) -> None:
        value = json.dumps(config_dict) if config_dict is not None else (config_text or "")
        item = {"name": name, "type": config_type or ("dictionary" if config_dict else "text"),
                "value": value, "description": description or ""}
        self._client.set_configurations(self._task_id, [item])

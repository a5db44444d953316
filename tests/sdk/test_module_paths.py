"""The module paths ClearML users import from (``arno.task``, ``arno.logger``, ``arno.datasets``,
``arno.storage``, ``arno.task_parameters``, ``arno.automation``): each imports at once in a
fresh process, loads nothing of the SDK until a name is used, and gives the SDK's objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["arno.task", "arno.logger", "arno.datasets", "arno.storage", "arno.storage.manager",
           "arno.task_parameters", "arno.automation"]

_PROBE = """
import json, sys, time
began = time.perf_counter()
import {module}
took = time.perf_counter() - began
print(json.dumps({{"seconds": took,
                  "loaded": sorted(m for m in sys.modules if m.startswith(("arno.sdk",
                                   "arno.client", "httpx", "fsspec", "pydantic")))}}))
"""


def _probe(module: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_module_path_is_instant_and_loads_nothing_heavy(module):
    result = _probe(module)
    assert result["loaded"] == [], result  # the SDK, the client and their libraries wait
    assert result["seconds"] < 1.0, result  # (the speed itself is measured in bench/)


def test_the_names_are_the_sdks_own():
    import arno
    from arno import sdk
    from arno.logger import Logger
    from arno.storage import StorageManager
    from arno.storage.manager import StorageManager as LongPath
    from arno.task import Task

    assert Task is arno.Task is sdk.Task
    assert Logger is arno.Logger is sdk.Logger
    assert StorageManager is LongPath is arno.StorageManager is sdk.StorageManager
    import arno.task_parameters as tp
    from arno.sdk import _task_parameters

    assert tp.TaskParameters is _task_parameters.TaskParameters
    assert {"TaskParameters", "param", "percent_param"} <= set(tp.__all__)
    for module in (arno.task, arno.logger, arno.storage, tp):
        with pytest.raises(AttributeError):
            module.NoSuchName  # noqa: B018


def test_datasets_module_path():
    import arno
    from arno.datasets import Dataset, FileEntry

    assert Dataset is arno.Dataset
    assert FileEntry.__module__.startswith("arno.sdk")


def test_automation_has_the_ranges_and_names_what_comes_later():
    import arno.automation as automation
    from arno.automation import (
        DiscreteParameterRange,
        LogUniformParameterRange,
        ParameterSet,
        UniformIntegerParameterRange,
        UniformParameterRange,
    )

    assert all(isinstance(c, type) for c in (DiscreteParameterRange, LogUniformParameterRange,
                                             ParameterSet, UniformIntegerParameterRange,
                                             UniformParameterRange))
    for later in ("PipelineController", "PipelineDecorator", "HyperParameterOptimizer"):
        with pytest.raises(AttributeError, match="pipeline and HPO issue"):
            getattr(automation, later)
    with pytest.raises(AttributeError, match="no attribute"):
        automation.Nothing  # noqa: B018

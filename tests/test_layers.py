"""The package's shape: import-linter's contracts from pyproject.toml hold, and the public
names the docs promise are the ones ``arno`` and ``arno.sdk`` export."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> list[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the test extras (import-linter)")
    return [found]


def test_import_contracts_hold():
    proc = subprocess.run(
        [*_lint_imports(), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "0 broken" in out, out
    for name in CONTRACTS:
        assert f"{name} KEPT" in out, out


CONTRACTS = (
    "layers",
    "client side never touches the server side",
    "only the server side and the cli import the server side",
    "cli never imports db",
    "server reaches db only through services",
)
"""Every contract of pyproject.toml, by name: one renamed or dropped fails the test."""


def test_layers_contract_is_exhaustive():
    """Every subpackage and module of ``arno`` is in a layer: a new one is placed, not missed."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        contracts = tomllib.load(fh)["tool"]["importlinter"]["contracts"]
    assert sorted(c["name"] for c in contracts) == sorted(CONTRACTS)
    (layers,) = (c for c in contracts if c["name"] == "layers")
    assert layers["containers"] == ["arno"] and layers["exhaustive"] is True
    declared = {name.strip(" ()") for layer in layers["layers"] for name in layer.split("|")}
    present = {p.stem for p in (ROOT / "src" / "arno").iterdir()
               if p.name != "__init__.py" and not p.name.startswith(("_", "."))
               and (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert present <= declared, present - declared


def test_public_names_of_arno():
    import arno

    assert {"Task", "Logger", "StorageManager", "__version__"} <= set(arno.__all__)
    from arno import Logger, StorageManager, Task, sdk

    assert (Task, Logger, StorageManager) == (sdk.Task, sdk.Logger, sdk.StorageManager)
    for name in arno.__all__:
        assert getattr(arno, name) is not None, name
    with pytest.raises(AttributeError):
        arno.NoSuchThing  # noqa: B018


def test_public_names_of_arno_sdk():
    from arno import sdk

    assert {"Task", "Logger", "StorageManager"} <= set(sdk.__all__)
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    for cls in (sdk.Task, sdk.Logger, sdk.StorageManager):
        assert cls.__module__.startswith("arno.sdk")


_CHECK = """
import sys
def loaded(*prefixes):
    return sorted(m for m in sys.modules if m.startswith(prefixes))
{steps}
"""


def _run(steps: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _CHECK.format(steps=steps)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_imports_stay_lazy():
    """``import arno`` loads neither side; the server never loads the SDK (the one edge the
    layers contract ignores, ``arno -> arno.sdk``, is a lazy import), nor the SDK the server."""
    bare, server = _run(
        "import arno\n"
        "print(loaded('arno.sdk', 'arno.client', 'arno.server', 'arno.services', 'arno.db'))\n"
        "import arno.server.app\n"
        "print(loaded('arno.sdk', 'arno.client'))"
    )
    assert bare == "[]" and server == "[]"
    (sdk,) = _run("from arno import Task\n"
                  "print(loaded('arno.server', 'arno.services', 'arno.db'))")
    assert sdk == "[]"

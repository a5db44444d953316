"""A task's requirements come from what its code imports (the freeze is kept beside them), and
the slow part of the capture runs off the thread that calls ``Task.init``."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import LiveServer
from tests.ui.conftest import login_client

from arno.sdk import _requirements
from arno.sdk._environment import NOTEBOOK_ENTRY_POINT, ScriptCapture

SRC = Path(__file__).resolve().parents[2] / "src"


def pin(dist: str) -> str:
    return f"{metadata.metadata(dist)['Name']}=={metadata.version(dist)}"


@pytest.fixture(autouse=True)
def _fresh_choices() -> Iterator[None]:
    _requirements.reset_choices()
    yield
    _requirements.reset_choices()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A script importing a package (module ``jwt`` from distribution PyJWT), a local helper
    that imports another (psutil), a local package with a relative import (rich), the
    standard library, arno, an import that is not installed, and one only for type checkers."""
    root = tmp_path / "proj"
    (root / "tools").mkdir(parents=True)
    (root / "train.py").write_text(
        "import os, json\n"
        "from typing import TYPE_CHECKING\n"
        "import jwt\n"
        "import helpers\n"
        "from tools import report\n"
        "from arno import Task\n"
        "if TYPE_CHECKING:\n"
        "    import pandas\n"
        "try:\n"
        "    import surely_not_installed_pkg\n"
        "except ImportError:\n"
        "    surely_not_installed_pkg = None\n"
        "def main():\n"
        "    import importlib\n"
        "    return importlib.import_module('typer')\n"
    )
    (root / "helpers.py").write_text("import psutil\n")
    (root / "tools" / "__init__.py").write_text("")
    (root / "tools" / "report.py").write_text("from .fmt import line\n")
    (root / "tools" / "fmt.py").write_text("def line():\n    import rich\n")
    return root


def test_script_imports_become_pinned_requirements(project: Path) -> None:
    info = _requirements.capture(str(project / "train.py"), None)
    assert info["requirements"].splitlines() == [
        pin("psutil"), pin("pyjwt"), pin("rich"),
        "# surely_not_installed_pkg: imported, not an installed package",
        pin("typer"),
    ]
    frozen = info["requirements_freeze"].splitlines()
    assert pin("pytest") in frozen and pin("pydantic") in frozen  # the freeze has it all
    assert len(frozen) > 20


def test_a_real_script_records_its_imports(project: Path) -> None:
    """The script runs as a user runs it; the capture finds it as ``__main__``."""
    (project / "train.py").write_text(
        project.joinpath("train.py").read_text() +
        "import json as _j\n"
        "from arno.sdk._environment import ScriptCapture\n"
        "print(_j.dumps(ScriptCapture().run()))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("ARNO_TASK_ID", None)
    out = subprocess.run([sys.executable, "train.py", "--lr", "0.1"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.splitlines()[-1])
    assert record["entry_point"] == "train.py"
    assert record["argv"] == ["train.py", "--lr", "0.1"]
    assert record["repository"] is None and "import helpers" in record["source"]
    reqs = record["requirements"].splitlines()
    assert pin("pyjwt") in reqs and pin("psutil") in reqs and pin("rich") in reqs
    assert not any(line.lower().startswith(("arno", "pydantic", "pandas")) for line in reqs)


def _dist(site: Path, name: str, version: str, top: str, direct_url: dict[str, Any] | None
          ) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{top}\n")
    (info / "RECORD").write_text("")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_local_installs_become_comments_and_shared_modules_keep_every_distribution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _dist(site, "nsx-core", "1.0", "nsx", None)
    _dist(site, "nsx-extra", "2.5", "nsx", None)  # a second distribution of the same module
    _dist(site, "mylocal", "0.3", "mylocal",
          {"url": "file:///home/me/mylocal", "dir_info": {"editable": True}})
    _dist(site, "builtlocal", "0.1", "builtlocal", {"url": "file:///tmp/builtlocal-0.1.whl",
                                                    "archive_info": {}})
    _dist(site, "fromgit", "0.9", "fromgit",
          {"url": "https://git.example.com/o/fromgit.git",
           "vcs_info": {"vcs": "git", "commit_id": "0123abcd"}})
    monkeypatch.syspath_prepend(str(site))
    text = _requirements.requirements_text(
        ["nsx", "mylocal", "builtlocal", "fromgit", "os", "arno"])
    assert text.splitlines() == [
        "# builtlocal==0.1: installed from the local path file:///tmp/builtlocal-0.1.whl",
        "fromgit @ git+https://git.example.com/o/fromgit.git@0123abcd",
        "# mylocal==0.3: an editable install from file:///home/me/mylocal",
        "nsx-core==1.0",
        "nsx-extra==2.5",
    ]


def test_add_ignore_and_forced_requirements(project: Path, tmp_path: Path) -> None:
    script = str(project / "train.py")
    _requirements.add_requirements("psutil", "5.9.0")  # replaces the imported pin
    _requirements.add_requirements("numpy")  # installed: its version is pinned
    _requirements.add_requirements("torch", ">=2.0")
    _requirements.add_requirements("not-installed-anywhere")
    _requirements.ignore_requirements("typer")
    reqs = _requirements.capture(script, None)["requirements"].splitlines()
    assert "psutil==5.9.0" in reqs and pin("psutil") not in reqs
    assert pin("numpy") in reqs and "torch>=2.0" in reqs and "not-installed-anywhere" in reqs
    assert pin("typer") not in reqs and pin("pyjwt") in reqs

    _requirements.force_requirements_env_freeze()
    forced = _requirements.capture(script, None)
    assert pin("pytest") in forced["requirements"].splitlines()
    assert "psutil==5.9.0" in forced["requirements"]  # added packages still win

    listed = tmp_path / "requirements.txt"
    listed.write_text("# pinned by hand\nscipy==1.11.0\n")
    _requirements.force_requirements_env_freeze(requirements_file=listed)
    listed.unlink()  # read when called, before Task.init
    from_file = _requirements.capture(script, None)["requirements"].splitlines()
    assert from_file[:2] == ["# pinned by hand", "scipy==1.11.0"]
    assert pin("pytest") not in from_file

    _requirements.force_requirements_env_freeze(False)
    assert "scipy" not in _requirements.capture(script, None)["requirements"]


def test_add_requirements_reads_a_requirements_file(tmp_path: Path) -> None:
    listed = tmp_path / "extra.txt"
    listed.write_text("polars>=0.20  # fast frames\n-e ./local\n\nrich\nnot-installed-pkg\n")
    _requirements.add_requirements(str(listed))
    reqs = _requirements.capture(None, None)["requirements"].splitlines()
    assert reqs == ["polars>=0.20", pin("rich"), "not-installed-pkg"]


def _fake_kernel(monkeypatch: pytest.MonkeyPatch, cells: list[str] | None) -> None:
    """What the capture reads of a running IPython kernel: ``ipykernel`` loaded, and
    ``IPython.get_ipython().user_ns["In"]``."""
    shell = types.SimpleNamespace(user_ns={} if cells is None else {"In": cells})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    main = types.ModuleType("__main__")  # a kernel's __main__ has no file
    monkeypatch.setitem(sys.modules, "__main__", main)


def test_notebook_cells_give_the_requirements(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nb_helpers.py").write_text("import typer\n")
    monkeypatch.chdir(tmp_path)
    _fake_kernel(monkeypatch, [
        "",
        "get_ipython().run_line_magic('matplotlib', 'inline')\nimport jwt",
        "%load_ext autoreload\n!pip list\nimport psutil as ps",  # untransformed magics
        "from nb_helpers import *",
        "def broken(:",  # a cell that does not parse is skipped
    ])
    record = ScriptCapture().run()
    assert record["entry_point"] == NOTEBOOK_ENTRY_POINT
    assert record["requirements"].splitlines() == [pin("psutil"), pin("pyjwt"), pin("typer")]


def test_notebook_without_history_falls_back_to_loaded_modules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _fake_kernel(monkeypatch, None)
    reqs = ScriptCapture().run()["requirements"].splitlines()
    assert pin("pytest") in reqs  # loaded in this process, no kernel's or arno's
    assert not any(r.lower().startswith(("pydantic", "httpx", "arno")) for r in reqs)


class _Watch:
    """Audit events (``subprocess.Popen``, files opened) seen while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.active and event in ("subprocess.Popen", "os.posix_spawn", "os.exec",
                                     "os.system", "open"):
            self.events.append((event, str(args[0]) if args else ""))


_WATCH = _Watch()
sys.addaudithook(_WATCH)  # an audit hook cannot be removed; it only records while active


def test_quick_capture_runs_no_subprocess_and_reads_no_metadata(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    monkeypatch.chdir(project)
    _WATCH.events.clear()
    _WATCH.active = True
    started = time.perf_counter()
    try:
        capture = ScriptCapture(str(project / "train.py"))
    finally:
        _WATCH.active = False
    took = time.perf_counter() - started
    assert [e for e in _WATCH.events if e[0] != "open"] == []
    assert not [path for _, path in _WATCH.events if "dist-info" in path or ".git" in path]
    assert took < 0.05, f"quick capture took {took * 1000:.1f} ms"
    quick = capture.quick
    assert quick["entry_point"] == "train.py" and quick["working_dir"] == "."
    assert "requirements" not in quick and "commit" not in quick
    assert "source" not in quick  # a repository: the slow part decides


def test_background_capture_patches_the_task(project: Path, sqlite_server: LiveServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The facade's use: create the task with ``quick``, ``start`` with a callback that
    replaces its script, ``wait`` at close. The server takes the whole record and the web
    UI shows the requirements and the freeze."""
    monkeypatch.chdir(project)
    capture = ScriptCapture(str(project / "train.py"))
    with sqlite_server.client() as client:
        made = client.post("/api/v1/tasks", json={
            "project": "requirements", "name": "from-imports", "status": "in_progress",
            "script": capture.quick})
        assert made.status_code in (200, 201), made.text
        task_id = made.json()["id"]
        seen: list[int] = []

        def patch(record: dict[str, Any]) -> None:
            reply = client.patch(f"/api/v1/tasks/{task_id}", json={"script": record})
            seen.append(reply.status_code)
            reply.raise_for_status()

        capture.start(patch)
        record = capture.wait(timeout=60)
        assert record is not None and seen == [200]
        stored = client.get(f"/api/v1/tasks/{task_id}").json()["script"]
    assert stored["requirements"] == record["requirements"]
    assert pin("pyjwt") in stored["requirements"].splitlines()
    assert pin("pytest") in stored["requirements_freeze"].splitlines()
    assert stored["entry_point"] == "train.py" and "import helpers" in stored["source"]
    assert stored["argv"] == [str(a) for a in sys.argv]
    browser = login_client(sqlite_server.url, "admin", "admin-password")
    try:
        page = browser.get(f"/tasks/{task_id}", params={"tab": "execution"})
    finally:
        browser.close()
    assert page.status_code == 200
    assert pin("pyjwt") in page.text and "Installed packages (the whole environment" in page.text

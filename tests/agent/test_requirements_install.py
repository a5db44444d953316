"""A task recorded from a script gets, on an agent, a venv of what the script imports: not the
freeze of the environment it was recorded in. A real agent builds it with uv from PyPI."""

from __future__ import annotations

import importlib.metadata as metadata
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.agent.conftest import (
    LEASE,
    AgentProc,
    console,
    enqueue,
    make_queue,
    start_agent,
    wait_status,
)
from tests.conftest import LiveServer, start_server

from arno.sdk._environment import ScriptCapture

# a tiny pure-Python distribution, installed here (pytest needs it) and outside arno's own
PACKAGE, MODULE = "iniconfig", "iniconfig"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(tmp_path_factory.mktemp("server-home"), None, "sqlite",
                            lease_seconds=LEASE, reaper_interval=0.5)


@pytest.fixture(scope="module")
def queue(live: LiveServer) -> str:
    with live.client() as client:
        return make_queue(client, "reqs")


@pytest.fixture(scope="module")
def agent(live: LiveServer, queue: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[AgentProc]:
    proc = start_agent(live, tmp_path_factory.mktemp("agent-home"), "--queue", queue)
    yield proc
    assert proc.stop() == 0, proc.output()[-3000:]


SCRIPT = f"""\
import pathlib, sys, sysconfig
import {MODULE}

site = pathlib.Path(sysconfig.get_paths()["purelib"])
print("venv dists", sorted(p.name.split("-")[0].lower() for p in site.glob("*.dist-info")))
where = pathlib.Path({MODULE}.__file__).resolve()
print("{MODULE} from the venv", where.is_relative_to(pathlib.Path(sys.prefix).resolve()))
"""


def _run(live: LiveServer, queue: str, script: dict[str, Any]) -> list[str]:
    with live.client() as client:
        made = client.post("/api/v1/tasks", json={
            "project": "requirements", "name": "from-imports", "script": script})
        assert made.status_code in (200, 201), made.text
        tid = made.json()["id"]
        assert enqueue(client, tid, queue).status_code == 200
        task = wait_status(client, tid, timeout=180)
        lines = console(client, tid)
    assert task["status"] == "completed", (task["status_message"], lines)
    return lines


def _venv(lines: list[str]) -> tuple[Path, str]:
    m = re.search(r"venv (\S+) \((built|reused) in", lines[0])
    assert m, lines[0]
    return Path(m.group(1)), m.group(2)


def test_the_agent_installs_what_the_script_imports_not_the_freeze(
        live: LiveServer, queue: str, agent: AgentProc, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    record = ScriptCapture(str(tmp_path / "train.py")).run()  # as Task.init records it
    pinned = f"{PACKAGE}=={metadata.version(PACKAGE)}"
    assert record["requirements"] == pinned + "\n"
    frozen = record["requirements_freeze"].splitlines()
    assert pinned in frozen and len(frozen) > 50  # pandas, numpy, pytest ... all of it
    assert any(line.lower().startswith("numpy==") for line in frozen)

    lines = _run(live, queue, record)
    venv, how = _venv(lines)
    assert how == "built"
    assert f"venv dists ['{PACKAGE}']" in lines, lines  # the venv holds that and nothing else
    assert f"{MODULE} from the venv True" in lines
    assert (venv / "requirements.txt").read_text() == pinned + "\n"

    # the same imports with a different freeze and a comment line: the same venv, reused
    again = dict(record, requirements=record["requirements"] +
                 "# helpers: imported, not an installed package\n",
                 requirements_freeze=pinned + "\nsomething-else==1.0\n")
    venv_again, how_again = _venv(_run(live, queue, again))
    assert (venv_again, how_again) == (venv, "reused")

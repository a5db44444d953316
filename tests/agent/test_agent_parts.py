"""The agent's parts that need no server: console line assembly, interpreter discovery,
requirements clean-up, and the SDK overlay that lets a task's venv import arno."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from arno.agent._environment import EnvBuilder, SetupFailed, normalise_requirements
from arno.agent._lines import LineSplitter
from arno.agent._pythons import Interpreters, major_minor

AGENT_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_lines_collapse_carriage_returns_like_a_terminal():
    s = LineSplitter()
    assert s.feed(b"10%\r20%\r") == []
    assert s.feed(b"100%\n") == ["100%"]
    assert s.feed(b"windows line\r\nnext") == ["windows line"]
    assert s.feed("é".encode()[:1]) == []  # half a UTF-8 character waits for the rest
    assert s.feed("é".encode()[1:] + b"\n") == ["nexté"]
    assert s.feed(b"no newline at the end") == []
    assert s.finish() == "no newline at the end"
    assert s.finish() is None


def test_overlong_lines_are_cut_with_a_marker():
    s = LineSplitter(max_line=5)
    assert s.feed(b"abcdefgh\n") == ["abcde ... [truncated 3 characters]"]


def test_requirements_drop_comments_and_arno_itself():
    text = "# a comment\n\nnumpy==1.26.4  # pinned\narno==0.1.0\nArno >= 0.1\nrequests\n"
    assert normalise_requirements(text) == ["numpy==1.26.4", "requests"]
    assert normalise_requirements(None) == []


def test_major_minor():
    assert major_minor("3.11.7") == "3.11"
    assert major_minor("3.8") == "3.8"
    assert major_minor("") is None and major_minor("python") is None


def test_discovery_finds_the_agents_own_version_and_explicit_interpreters_are_asked():
    found = Interpreters.discover()
    assert AGENT_VERSION in found.versions
    explicit = Interpreters.discover([sys.executable])
    assert explicit.versions == [AGENT_VERSION]
    with pytest.raises(ValueError, match="no Python interpreter"):
        Interpreters.discover(["/nonexistent/python3.99"])


def test_a_missing_version_names_wanted_and_available(tmp_path):
    envs = EnvBuilder(tmp_path, Interpreters({AGENT_VERSION: sys.executable, "3.99": "/x"}))
    with pytest.raises(SetupFailed) as info:
        envs.choose_python("3.4.2")
    msg = info.value.reason
    assert "needs Python 3.4" in msg and f"{AGENT_VERSION}, 3.99" in msg


def _other_python() -> tuple[str, str] | None:
    """An installed CPython other than the agent's, from pyenv (skips when there is none)."""
    for version, path in Interpreters.discover().by_version.items():
        if version != AGENT_VERSION and tuple(map(int, version.split("."))) >= (3, 8):
            return version, path
    return None


@pytest.mark.parametrize("use_uv", [True, False], ids=["uv", "pip"])
def test_an_empty_environment_imports_arno_and_nothing_else(tmp_path, use_uv):
    envs = EnvBuilder(tmp_path, Interpreters.discover([sys.executable]), use_uv=use_uv)
    if use_uv and envs.uv is None:
        pytest.skip("uv is not installed here")
    env = envs.prepare(AGENT_VERSION, "")
    code = ("import arno, httpx, pydantic, importlib.util as u; "
            "print(arno.__file__); print(u.find_spec('pytest') is None)")
    out = subprocess.run([env.python, "-c", code], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items()
                              if k not in ("PYTHONPATH", "VIRTUAL_ENV")}, check=True)
    arno_file, no_pytest = out.stdout.split()
    assert Path(arno_file).resolve().parent == Path(__import__("arno").__file__).resolve().parent
    assert no_pytest == "True"  # the agent's other packages are not visible to the task
    again = envs.prepare(AGENT_VERSION + ".0", "\n# nothing\n")
    assert again.reused and again.root == env.root


def test_another_python_version_gets_its_own_venv_without_the_sdk(tmp_path):
    other = _other_python()
    if other is None:
        pytest.skip(f"no CPython other than {AGENT_VERSION} is installed here")
    version, path = other
    envs = EnvBuilder(tmp_path, Interpreters({AGENT_VERSION: sys.executable, version: path}))
    env = envs.prepare(version, "")
    out = subprocess.run([env.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == version
    assert any("list arno in the task's requirements" in n for n in env.notes)


def test_the_least_recently_used_venvs_go_but_never_one_in_use(tmp_path):
    """With room for one venv, building a second removes the first, unless a task still runs
    in it; once that task ends, the next build removes it."""
    finder = Interpreters.discover([sys.executable])
    with_uv = EnvBuilder(tmp_path, finder, use_uv=True, keep_venvs=1)
    if with_uv.uv is None:
        pytest.skip("uv is not installed here")
    with_pip = EnvBuilder(tmp_path, finder, use_uv=False, keep_venvs=1)  # another cache key
    first = with_uv.prepare(AGENT_VERSION, "")  # a task runs in it: held
    second = with_pip.prepare(AGENT_VERSION, "")
    assert first.root != second.root
    assert first.root.is_dir() and second.root.is_dir()  # the held one was spared
    first.release()
    second.release()
    os.utime(first.root / ".arno-ready", (1, 1))  # used long ago
    third = with_uv.prepare(AGENT_VERSION, "")  # reuses the first: now the newest
    assert third.reused and third.root == first.root
    third.release()
    os.utime(second.root / ".arno-ready", (1, 1))
    from arno.agent._venv_cache import prune
    assert prune(tmp_path / "venvs", keep=1) == [second.root.name]
    assert not second.root.exists() and first.root.is_dir()

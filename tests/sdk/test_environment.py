"""collect_script_info against real git repositories, and the argparse hook."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from arno.sdk import _environment as env
from arno.sdk._environment import (
    INTERACTIVE_ENTRY_POINT,
    NOTEBOOK_ENTRY_POINT,
    collect_argparse_args,
    collect_script_info,
    patch_argparse,
    strip_url_credentials,
    unpatch_argparse,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Arno Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "trunk")
    (root / "src" / "train.py").write_text("print('v1')\n")
    (root / "README.md").write_text("hello\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", "https://alice:s3cr3t-token@git.example.com/team/proj.git")
    return root


@needs_git
def test_repository_state(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "src" / "train.py").write_text("print('v2, uncommitted')\n")
    monkeypatch.chdir(repo / "src")
    info = collect_script_info(entry_point=str(repo / "src" / "train.py"))

    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert len(info["commit"]) == 40
    assert info["branch"] == "trunk"
    assert info["repository"] == "https://git.example.com/team/proj.git"
    assert "s3cr3t" not in repr(info)
    assert "-print('v1')" in info["diff"] and "+print('v2, uncommitted')" in info["diff"]
    assert info["diff"].startswith("diff --git a/src/train.py b/src/train.py")
    assert info["entry_point"] == "src/train.py"
    assert info["working_dir"] == "src"
    assert info["python_version"] == platform.python_version()
    assert info["python_executable"] == sys.executable
    assert info["platform"]


@needs_git
def test_clean_tree_detached_head_and_relative_entry_point(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "checkout", "-q", "--detach")
    monkeypatch.chdir(repo)
    info = collect_script_info(entry_point="src/train.py")
    assert info["diff"] == ""
    assert info["branch"] is None
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["entry_point"] == "src/train.py"
    assert info["working_dir"] == "."


@needs_git
def test_repository_without_commits_or_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "run.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    info = collect_script_info(entry_point="run.py")
    assert info["commit"] is None
    assert info["repository"] is None
    assert info["branch"] == "main"
    assert info["diff"] == ""
    assert info["entry_point"] == "run.py"


@needs_git
def test_large_diff_is_capped(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "DIFF_LIMIT", 4096)
    (repo / "README.md").write_text("".join(f"line {i}\n" for i in range(5000)))
    monkeypatch.chdir(repo)
    info = collect_script_info(entry_point="src/train.py")
    assert info["diff"].endswith("# arno: diff truncated at 4096 bytes\n")
    assert len(info["diff"].encode()) < 4096 + 100


def test_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "job.py").write_text("")
    monkeypatch.chdir(tmp_path)
    info = collect_script_info(entry_point=str(tmp_path / "job.py"))
    assert info["repository"] is None
    assert info["branch"] is None
    assert info["commit"] is None
    assert info["diff"] == ""
    assert info["entry_point"] == "job.py"
    assert info["working_dir"] == str(tmp_path)


def test_git_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.chdir(tmp_path)
    info = collect_script_info(entry_point=NOTEBOOK_ENTRY_POINT)
    assert info["commit"] is None and info["repository"] is None
    assert info["entry_point"] == NOTEBOOK_ENTRY_POINT
    assert info["python_version"] == platform.python_version()


def test_entry_point_of_a_real_script(tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    script.write_text(
        "import json, sys\n"
        "from arno.sdk._environment import collect_script_info\n"
        "print(json.dumps(collect_script_info()['entry_point']))\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    run_env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=run_env, capture_output=True, text=True
    )
    assert out.stdout.strip() == '"main.py"', out.stderr
    interactive = subprocess.run(
        [sys.executable, "-c", script.read_text()],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
    )
    assert interactive.stdout.strip() == f'"{INTERACTIVE_ENTRY_POINT}"', interactive.stderr


def test_requirements_freeze_lists_installed_packages() -> None:
    info = collect_script_info()
    lines = info["requirements_freeze"].splitlines()
    names = [line.split("==")[0].lower() for line in lines]
    assert all("==" in line for line in lines)
    assert "psutil" in names and "pytest" in names
    assert names == sorted(names, key=lambda n: n.replace("_", "-"))
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host/repo.git", "https://host/repo.git"),
        ("https://oauth2:glpat-x@gitlab.com:8443/g/r.git", "https://gitlab.com:8443/g/r.git"),
        ("http://token@host/repo", "http://host/repo"),
        ("https://host/repo.git", "https://host/repo.git"),
        ("ssh://git:pw@host/repo.git", "ssh://git@host/repo.git"),
        ("ssh://git@host/repo.git", "ssh://git@host/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


# -- argparse ----------------------------------------------------------------------------


@dataclass
class Hook:
    """What the argparse callback saw, and the overrides it answers with."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __call__(self, values: dict[str, Any]) -> Mapping[str, Any]:
        self.seen.append(values)
        return self.overrides


@pytest.fixture
def hook() -> Iterator[Hook]:
    installed = Hook()
    patch_argparse(installed)
    try:
        yield installed
    finally:
        unpatch_argparse()


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--name", default="run")
    parser.add_argument("--layers", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    return parser


def test_argparse_values_are_reported(hook: Hook) -> None:
    args = make_parser().parse_args(["--lr", "0.5", "--amp", "-vv"])
    expected = {
        "lr": 0.5,
        "epochs": 3,
        "name": "run",
        "layers": [64, 64],
        "amp": True,
        "shuffle": True,
        "seed": None,
        "verbose": 2,
    }
    assert hook.seen == [expected]
    assert collect_argparse_args() == expected
    assert args.lr == 0.5


def test_argparse_overrides_are_cast(hook: Hook) -> None:
    hook.overrides.update(
        lr="0.001",
        epochs="10",
        name="remote",
        layers="128 32",
        amp="false",
        shuffle="False",
        seed="42",
        verbose="3",
        unknown="ignored",
    )
    args = make_parser().parse_args(["--amp"])
    assert args.lr == 0.001
    assert args.epochs == 10
    assert args.name == "remote"
    assert args.layers == [128, 32]
    assert args.amp is False
    assert args.shuffle is False
    assert args.seed == 42
    assert args.verbose == 3
    assert not hasattr(args, "unknown")
    assert collect_argparse_args() == vars(args)


def test_argparse_unchanged_strings_keep_their_values(hook: Hook) -> None:
    # What a remote run sends back is usually the string form of what was reported.
    hook.overrides.update(layers="[64, 64]", seed="", lr="0.1", epochs="[bad")
    with pytest.warns(UserWarning, match="epochs"):
        args = make_parser().parse_args([])
    assert args.layers == [64, 64]
    assert args.seed is None
    assert args.lr == 0.1
    assert args.epochs == 3  # the bad override is ignored, the script's value stays


def test_parse_known_args_and_subparsers_report_once(hook: Hook) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", action="store_true")
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train")
    train.add_argument("--steps", type=int, default=5)
    hook.overrides.update(steps="7")
    args, rest = parser.parse_known_args(["train", "--steps", "9", "--extra"])
    assert rest == ["--extra"]
    assert len(hook.seen) == 1
    assert hook.seen[0] == {"debug": False, "command": "train", "steps": 9}
    assert args.steps == 7


def test_unpatch_restores_argparse() -> None:
    original = argparse.ArgumentParser.parse_known_args
    calls: list[dict[str, Any]] = []
    patch_argparse(lambda values: calls.append(values) or None)
    patch_argparse(lambda values: calls.append(values) or None)  # re-patching is safe
    assert argparse.ArgumentParser.parse_known_args is not original
    make_parser().parse_args([])
    unpatch_argparse()
    unpatch_argparse()
    assert argparse.ArgumentParser.parse_known_args is original
    make_parser().parse_args([])
    assert len(calls) == 1


def test_a_failing_callback_does_not_break_parsing() -> None:
    def boom(values: dict[str, Any]) -> None:
        raise RuntimeError("server unreachable")

    patch_argparse(boom)
    try:
        with pytest.warns(UserWarning, match="server unreachable"):
            args = make_parser().parse_args(["--epochs", "4"])
    finally:
        unpatch_argparse()
    assert args.epochs == 4

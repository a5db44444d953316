"""Configuration libraries (Hydra, click, jsonargparse, python-dotenv) in real scripts: what
they parsed lands in the task's parameters and configuration, and a run under an agent
(``ARNO_TASK_ID``, as for argparse) sees the server's values instead."""

from __future__ import annotations

import pytest
from tests.sdk.frameworks.fw_scripts import create_task, params_of, run_script, task_id_of

INIT = ('task = Task.init(project_name="frameworks/config", task_name="{name}", '
        'auto_resource_monitoring=False, auto_connect_frameworks={frameworks})\n'
        'print("TASK_ID", task.id)\n')


@pytest.fixture
def api(sqlite_server):
    with sqlite_server.client() as client:
        yield client


def init(name: str, frameworks: str = "True", indent: str = "") -> str:
    return "".join(indent + line + "\n"
                   for line in INIT.format(name=name, frameworks=frameworks).splitlines())


# ---- Hydra ----------------------------------------------------------------------------------

HYDRA_CONFIG = "lr: 0.01\nmodel:\n  depth: 2\n  name: mlp\n"

HYDRA_INSIDE = """
import hydra
from arno import Task

@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg):
{init}    print("CFG", cfg.lr, cfg.model.depth, cfg.model.name)

main()
"""

HYDRA_BEFORE = """
import hydra
from arno import Task
{init}
@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg):
    print("CFG", cfg.lr, cfg.model.depth, cfg.model.name)

main()
"""


def configurations_of(api, task_id: str) -> dict[str, str]:
    resp = api.get(f"/api/v1/tasks/{task_id}/configurations")
    resp.raise_for_status()
    return {c["name"]: c["value"] for c in resp.json()}


@pytest.mark.parametrize("layout", ["inside", "before"])
def test_hydra_config_and_overrides_are_recorded(sqlite_server, api, tmp_path, layout):
    pytest.importorskip("hydra", reason="hydra-core is not installed")
    (tmp_path / "config.yaml").write_text(HYDRA_CONFIG)
    source = (HYDRA_INSIDE.format(init=init("hydra " + layout, indent="    "))
              if layout == "inside" else HYDRA_BEFORE.format(init=init("hydra " + layout)))
    proc = run_script(sqlite_server, tmp_path, source, "lr=0.2", "model.depth=3")
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    assert "CFG 0.2 3 mlp" in proc.stdout
    params = params_of(api, tid)
    assert params["Hydra/lr"] == "0.2"
    assert params["Hydra/model.depth"] == "3"
    text = configurations_of(api, tid)["OmegaConf"]
    assert "lr: 0.2" in text and "depth: 3" in text and "name: mlp" in text


def test_hydra_overrides_from_the_server_under_an_agent(sqlite_server, api, tmp_path):
    pytest.importorskip("hydra", reason="hydra-core is not installed")
    (tmp_path / "config.yaml").write_text(HYDRA_CONFIG)
    tid = create_task(api, "frameworks/config", "hydra clone",
                      {"Hydra/lr": "0.7", "Hydra/model.name": "resnet"})
    proc = run_script(sqlite_server, tmp_path,
                      HYDRA_INSIDE.format(init=init("ignored", indent="    ")),
                      "model.depth=4", env={"ARNO_TASK_ID": tid})
    assert proc.returncode == 0, proc.stderr
    assert task_id_of(proc) == tid
    assert "CFG 0.7 4 resnet" in proc.stdout
    text = configurations_of(api, tid)["OmegaConf"]
    assert "lr: 0.7" in text and "name: resnet" in text
    assert params_of(api, tid)["Hydra/model.depth"] == "4"


def test_hydra_off(sqlite_server, api, tmp_path):
    pytest.importorskip("hydra", reason="hydra-core is not installed")
    (tmp_path / "config.yaml").write_text(HYDRA_CONFIG)
    proc = run_script(sqlite_server, tmp_path, HYDRA_INSIDE.format(
        init=init("hydra off", '{"hydra": False}', indent="    ")), "lr=0.3")
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    assert not [k for k in params_of(api, tid) if k.startswith("Hydra/")]
    assert "OmegaConf" not in configurations_of(api, tid)


# ---- click ----------------------------------------------------------------------------------

CLICK_SCRIPT = """
import click
from arno import Task
{before}
@click.command()
@click.option("--count", default=1, type=int)
@click.option("--name", default="world")
@click.option("--shout/--no-shout", default=False)
def hello(count, name, shout):
{inside}    print("ARGS", count, type(count).__name__, name, shout)

hello()
"""


def test_click_parameters_are_recorded(sqlite_server, api, tmp_path):
    pytest.importorskip("click")
    proc = run_script(sqlite_server, tmp_path, CLICK_SCRIPT.format(
        before="", inside=init("click inside", indent="    ")), "--count", "3", "--shout")
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    assert "ARGS 3 int world True" in proc.stdout
    params = params_of(api, tid)
    assert params["Args/count"] == "3"
    assert params["Args/name"] == "world"
    assert params["Args/shout"] == "True"


def test_click_parameters_overridden_under_an_agent(sqlite_server, api, tmp_path):
    pytest.importorskip("click")
    tid = create_task(api, "frameworks/config", "click clone",
                      {"Args/count": "7", "Args/name": "agent", "Args/shout": "true"})
    proc = run_script(sqlite_server, tmp_path, CLICK_SCRIPT.format(
        before=init("ignored"), inside=""), "--count", "2", env={"ARNO_TASK_ID": tid})
    assert proc.returncode == 0, proc.stderr
    assert "ARGS 7 int agent True" in proc.stdout
    assert params_of(api, tid)["Args/count"] == "7"


def test_click_off(sqlite_server, api, tmp_path):
    pytest.importorskip("click")
    proc = run_script(sqlite_server, tmp_path, CLICK_SCRIPT.format(
        before=init("click off", '{"click": False}'), inside=""), "--count", "5")
    assert proc.returncode == 0, proc.stderr
    assert "Args/count" not in params_of(api, task_id_of(proc))


# ---- jsonargparse ---------------------------------------------------------------------------

JSONARGPARSE_SCRIPT = """
from jsonargparse import ArgumentParser
from arno import Task
{init}
parser = ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--model.depth", type=int, default=2)
parser.add_argument("--tags", type=list[str], default=[])
cfg = parser.parse_args()
print("ARGS", cfg.lr, cfg.model.depth, type(cfg.model.depth).__name__, cfg.tags)
"""


def test_jsonargparse_values_recorded_and_overridden(sqlite_server, api, tmp_path):
    pytest.importorskip("jsonargparse", reason="jsonargparse is not installed")
    proc = run_script(sqlite_server, tmp_path, JSONARGPARSE_SCRIPT.format(init=init("jap")),
                      "--lr", "0.05", "--model.depth", "6")
    assert proc.returncode == 0, proc.stderr
    params = params_of(api, task_id_of(proc))
    assert "ARGS 0.05 6 int []" in proc.stdout
    assert params["Args/lr"] == "0.05" and params["Args/model.depth"] == "6"

    tid = create_task(api, "frameworks/config", "jap clone",
                      {"Args/lr": "0.5", "Args/model.depth": "9"})
    proc = run_script(sqlite_server, tmp_path, JSONARGPARSE_SCRIPT.format(init=init("x")),
                      "--lr", "0.05", env={"ARNO_TASK_ID": tid})
    assert proc.returncode == 0, proc.stderr
    assert "ARGS 0.5 9 int []" in proc.stdout
    assert params_of(api, tid)["Args/model.depth"] == "9"


# ---- python-dotenv --------------------------------------------------------------------------

DOTENV_SCRIPT = """
import os
from dotenv import load_dotenv
from arno import Task
{before}load_dotenv({path!r})
{after}print("ENV", os.environ.get("MODE"), os.environ.get("API_KEY"))
"""
ENV_FILE = "MODE=fast\nDATA_DIR=/data/x\nAPI_KEY=abc123\nDB_PASSWORD=pw\nAuthToken=t0k\n"


@pytest.mark.parametrize("layout", ["after init", "before init"])
def test_dotenv_names_recorded_with_secrets_redacted(sqlite_server, api, tmp_path, layout):
    pytest.importorskip("dotenv", reason="python-dotenv is not installed")
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE)
    first, second = (init("dotenv"), "") if layout == "after init" else ("", init("dotenv"))
    proc = run_script(sqlite_server, tmp_path, DOTENV_SCRIPT.format(
        before=first, after=second, path=str(env_file)))
    assert proc.returncode == 0, proc.stderr
    params = params_of(api, task_id_of(proc))
    assert params["Environment/MODE"] == "fast"
    assert params["Environment/DATA_DIR"] == "/data/x"
    assert params["Environment/API_KEY"] == "<redacted>"
    assert params["Environment/DB_PASSWORD"] == "<redacted>"
    assert params["Environment/AuthToken"] == "<redacted>"
    assert "abc123" not in str(params) and "t0k" not in str(params)


def test_dotenv_values_from_the_server_under_an_agent(sqlite_server, api, tmp_path):
    pytest.importorskip("dotenv", reason="python-dotenv is not installed")
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE)
    tid = create_task(api, "frameworks/config", "dotenv clone",
                      {"Environment/MODE": "slow", "Environment/API_KEY": "<redacted>"})
    proc = run_script(sqlite_server, tmp_path, DOTENV_SCRIPT.format(
        before=init("x"), after="", path=str(env_file)), env={"ARNO_TASK_ID": tid})
    assert proc.returncode == 0, proc.stderr
    assert "ENV slow abc123" in proc.stdout  # a redacted value is never applied


def test_dotenv_off(sqlite_server, api, tmp_path):
    pytest.importorskip("dotenv", reason="python-dotenv is not installed")
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE)
    proc = run_script(sqlite_server, tmp_path, DOTENV_SCRIPT.format(
        before=init("dotenv off", '{"dotenv": False}'), after="", path=str(env_file)))
    assert proc.returncode == 0, proc.stderr
    assert not [k for k in params_of(api, task_id_of(proc)) if k.startswith("Environment/")]


def test_click_inside_the_command_under_an_agent_with_hooks_installed_early(
        sqlite_server, api, tmp_path):
    """``Task.init`` inside the command (ClearML's documented layout): with the hooks installed
    before the command parses (``_frameworks.install()`` at import), the agent's values reach
    the command's arguments, and they are recorded once the task exists."""
    pytest.importorskip("click")
    tid = create_task(api, "frameworks/config", "click inside clone",
                      {"Args/count": "4", "Args/name": "early"})
    early = "from arno.sdk import _frameworks\n_frameworks.install()\n"
    proc = run_script(sqlite_server, tmp_path, CLICK_SCRIPT.format(
        before=early, inside=init("ignored", indent="    ")), "--count", "2",
        env={"ARNO_TASK_ID": tid})
    assert proc.returncode == 0, proc.stderr
    assert "ARGS 4 int early False" in proc.stdout
    params = params_of(api, tid)
    assert params["Args/count"] == "4" and params["Args/shout"] == "False"

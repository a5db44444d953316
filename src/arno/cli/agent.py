"""``arno agent daemon``: serve queues on this machine."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from arno.cli._output import console, fail, handle_errors
from arno.cli._session import NotConfigured, client_config
from arno.client import ApiSession
from arno.core.errors import InvalidInput

agent_app = typer.Typer(name="agent", help="Run an agent that executes queued tasks.",
                        no_args_is_help=True)

READY_MARK = "serving"  # the agent's log line once it is registered
DETACH_WAIT = 30.0


def _gpus(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [g.strip() for g in text.split(",") if g.strip()]
    for g in items:
        if not g.isdigit() and not g.startswith(("GPU-", "MIG-")):
            raise InvalidInput(f"--gpus takes GPU indices such as 0,1 (got {g!r})")
    return items


def _queues(options: list[str], extra: list[str]) -> list[str]:
    names: list[str] = []
    for item in [*options, *extra]:
        for name in item.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


@agent_app.command("daemon")
@handle_errors
def daemon(
    queue: list[str] = typer.Option(  # noqa: B008
        [], "--queue", "-q",
        help="Queue to serve (repeatable; `--queue gpu cpu` serves both, first has priority)."),
    more_queues: list[str] = typer.Argument(  # noqa: B008
        None, metavar="QUEUE", show_default=False,
        help="More queues after the first --queue (so `--queue gpu cpu` serves both)."),
    gpus: str = typer.Option(None, "--gpus",
                             help="GPUs tasks may use, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES)."),
    cpu_only: bool = typer.Option(False, "--cpu-only", help="Tasks see no GPU."),
    services_mode: int = typer.Option(
        0, "--services-mode", min=0,
        help="Run up to N tasks at once (0: one at a time), for long-running controllers."),
    executor: str = typer.Option("venv", "--executor",
                                 help="venv (a cached virtual environment per task's "
                                      "requirements) or container (docker/podman)."),
    detached: bool = typer.Option(False, "--detached",
                                  help="Run in the background; log under ARNO_HOME/agent/."),
    name: str = typer.Option(None, "--name", help="Worker name (default host:gpus:pid)."),
    python: list[str] = typer.Option(  # noqa: B008
        [], "--python",
        help="Interpreter tasks may use (repeatable; default: python3.X on PATH and in pyenv)."),
    finish_tasks: bool = typer.Option(
        False, "--finish-tasks",
        help="On stop, let running tasks finish instead of stopping them."),
    grace: float = typer.Option(10.0, "--grace",
                                help="Seconds between SIGTERM and SIGKILL when stopping a task."),
    heartbeat: float = typer.Option(None, "--heartbeat",
                                    help="Seconds between heartbeats (default lease/3, max 10)."),
    work_dir: Path = typer.Option(None, "--work-dir",  # noqa: B008
                                  help="Workspaces and venv cache (default ARNO_HOME/agent)."),
    container_engine: str = typer.Option(None, "--container-engine",
                                         help="docker or podman (default: whichever is found)."),
    keep_workspaces: bool = typer.Option(False, "--keep-workspaces",
                                         help="Keep each task's workspace after it ends."),
    no_uv: bool = typer.Option(False, "--no-uv", help="Build venvs with venv + pip, not uv."),
    venv_cache: int = typer.Option(
        10, "--venv-cache", min=1,
        help="Task venvs kept for reuse; the least recently used beyond this are removed."),
    exit_with_parent: int = typer.Option(None, "--exit-with-parent", hidden=True),
) -> None:
    """Serve queues: take tasks one by one (or N at once with --services-mode), run each in its
    own workspace and venv, stream its console, report how it ended. Stop with Ctrl-C/SIGTERM."""
    queues = _queues(queue, more_queues or [])
    if not queues:
        raise InvalidInput("name at least one queue: --queue NAME")
    if executor not in ("venv", "container"):
        raise InvalidInput(f"--executor is venv or container, not {executor!r}")
    gpu_list = _gpus(gpus)
    cfg = client_config()
    if not cfg.host or not cfg.access_key or not cfg.secret_key:
        raise NotConfigured(
            "the agent needs a server and credentials: run `arno login --host URL` (or `arno up` "
            "on this machine), or set ARNO_API_HOST, ARNO_API_KEY and ARNO_API_SECRET")
    if detached:
        args = ["agent", "daemon", *[a for q in queues for a in ("--queue", q)],
                "--services-mode", str(services_mode), "--executor", executor,
                "--grace", str(grace)]
        if gpus is not None:
            args += ["--gpus", gpus]
        if cpu_only:
            args.append("--cpu-only")
        if name:
            args += ["--name", name]
        for p in python:
            args += ["--python", p]
        if finish_tasks:
            args.append("--finish-tasks")
        if heartbeat:
            args += ["--heartbeat", str(heartbeat)]
        if work_dir:
            args += ["--work-dir", str(work_dir)]
        if container_engine:
            args += ["--container-engine", container_engine]
        if keep_workspaces:
            args.append("--keep-workspaces")
        if no_uv:
            args.append("--no-uv")
        _detach(args, cfg.home, name)
        return

    from arno.agent import Agent

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s arno-agent %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    session = ApiSession(cfg.host, cfg.access_key, cfg.secret_key, retries=0)
    try:
        agent = Agent(
            session, name, queues,
            gpus=gpu_list, cpu_only=cpu_only, services_mode=services_mode, executor=executor,
            pythons=python or None, work_dir=work_dir, heartbeat_interval=heartbeat,
            grace_seconds=grace, finish_tasks=finish_tasks, container_engine=container_engine,
            keep_workspaces=keep_workspaces, use_uv=not no_uv, keep_venvs=venv_cache,
            parent_pid=exit_with_parent,
        )
        agent.run()
    finally:
        session.close()


def _detach(args: list[str], home: Path, name: str | None) -> None:
    log_dir = home / "agent"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = log_dir / f"agent-{name or stamp}.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arno.cli.main", *args], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ),
        )
    deadline = time.monotonic() + DETACH_WAIT
    while time.monotonic() < deadline:
        code = proc.poll()
        text = log_path.read_bytes()[offset:].decode(errors="replace")
        if code is not None:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            last = lines[-1] if lines else f"exit code {code}"
            raise fail(f"the agent stopped at once: {last.removeprefix('error: ')} "
                       f"(log: {log_path})")
        if READY_MARK in text:
            break
        time.sleep(0.1)
    console.print(f"agent running in the background: pid {proc.pid}, log {log_path}",
                  highlight=False, soft_wrap=True)
    console.print(f"stop it with: kill {proc.pid}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app)

"""One task on an agent, from the dequeue reply to the ``done`` call.

Set-up (Python version, code, environment) happens before anything of the task runs; when it
fails, the reason is the first line of the task's console and the task fails with it as its
status message. Otherwise the process runs with the task's id and the agent's credentials in
its environment, its output becomes console lines, and its exit code is reported: the server
makes 0 ``completed``, anything else ``failed`` (``stopped`` when it was aborted). Console
lines are sent before ``done``; while the server is away they wait in the reporter's spool
and ``done`` is retried, so the task's record is complete once the server is back.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from arno.agent._container import ContainerSpec, build_command, find_engine, write_env_file
from arno.agent._environment import (
    EnvBuilder,
    PreparedEnv,
    SetupFailed,
    normalise_requirements,
)
from arno.agent._process import ChildProcess
from arno.agent._workspace import Code, checkout, remove
from arno.client import ApiSession, Reporter
from arno.core.errors import ArnoError, NotFound, ServerUnavailable
from arno.core.settings import Settings

log = logging.getLogger("arno.agent")

PREFIX = "arno-agent:"
SEND_EVERY = 0.25  # seconds: console lines are sent at most this often (and at once when idle)
FINISH_PATIENCE = 30.0  # seconds a stopping agent keeps trying to report a task's end
ConsoleLine = tuple[str, str, float]


@dataclass
class RunContext:
    """What every task run of one agent shares."""

    session: ApiSession
    worker_id: str
    api_env: dict[str, str]  # ARNO_API_HOST handed to the task (its key is the run's own)
    envs: EnvBuilder
    work_dir: Path
    gpus: list[str] | None  # None: leave CUDA_VISIBLE_DEVICES alone
    executor: str = "venv"
    container_engine: str | None = None
    grace_seconds: float = 10.0
    keep_workspaces: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    sdk_requirements: Callable[[], list[str]] = lambda: []


def _signal_text(code: int) -> str:
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


# what a task's process never inherits from the agent's environment: the agent's own key and,
# for the agent that runs inside ``arno up``, the server's settings (database URL, store options)
_SERVER_ENV = frozenset(f"ARNO_{name.upper()}" for name in Settings.model_fields) - {"ARNO_HOME"}
_NOT_INHERITED = _SERVER_ENV | {
    "ARNO_API_KEY", "ARNO_API_SECRET", "ARNO_API_HOST", "PYTHONPATH", "PYTHONHOME",
    "VIRTUAL_ENV", "ARNO_OFFLINE", "ARNO_TASK_ID", "PYTHONSTARTUP", "CONDA_PREFIX"}


class TaskRun:
    def __init__(self, ctx: RunContext, task: dict[str, Any], queue: str | None,
                 on_process_end: Callable[[TaskRun], None] | None = None,
                 credential: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.credential = credential
        """The run's own key from the server (the task owner's rights, this run only)."""
        self.on_process_end = on_process_end
        self.task = task
        self.id = str(task["id"])
        self.queue = queue
        self.started = time.monotonic()
        self.workspace = ctx.work_dir / "tasks" / f"{self.id}-{os.getpid()}-{time.time_ns()}"
        self.child: ChildProcess | None = None
        self.env: PreparedEnv | None = None
        self.stop_reason: str | None = None
        self.stop_message = ""
        self._lock = threading.Lock()
        self.reporter = Reporter(cast(Any, ctx.session), self.id, spool_dir=ctx.work_dir / "spool",
                                 flush_interval=0.5)
        self._last_send = 0.0
        self.exit_code: int | None = None
        self.final_status: str | None = None

    # ---- console ---------------------------------------------------------------------------
    def console(self, lines: list[ConsoleLine], *, urgent: bool = True) -> None:
        self.reporter.console(lines)
        now = time.monotonic()
        if urgent and now - self._last_send >= SEND_EVERY:
            # a line shows on the server within about SEND_EVERY; a chatty task still costs
            # at most a few requests a second
            self._last_send = now
            self.reporter.flush(wait=False)

    def say(self, *texts: str) -> None:
        """The agent's own lines; they go out with the task's first output (or its end)."""
        now = time.time()
        self.console([("stdout", t, now) for t in texts], urgent=False)

    # ---- stopping ----------------------------------------------------------------------------
    def stop(self, reason: str, message: str | None = None) -> None:
        """Stop the task (from the heartbeat thread or the agent's shutdown). ``reason`` goes
        to the console, ``message`` (default ``"stopped: <reason>"``) to the task's status."""
        with self._lock:
            if self.stop_reason is not None:
                return
            self.stop_reason = reason
            self.stop_message = message if message is not None else f"stopped: {reason}"
            child = self.child
        log.info("task %s: stopping (%s)", self.id, reason)
        if child is not None:
            child.stop(reason, self.ctx.grace_seconds)

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> None:
        self.reporter.start()
        try:
            code, message = self._run()
        except Exception as exc:  # noqa: BLE001 - a bug of ours must still end the task
            log.exception("task %s: the agent failed", self.id)
            self.say(f"{PREFIX} internal error of the agent: {exc!r}",
                     *traceback.format_exc().splitlines())
            code, message = 1, f"agent {self.ctx.worker_id} failed: {exc!r}"
        finally:
            if self.env is not None:
                self.env.release()  # the venv may be pruned from now on
        self.exit_code = code
        if self.on_process_end is not None:
            # the slot is free for the next task while this one's end is being reported
            self.on_process_end(self)
        self._finish(code, message)
        if not self.ctx.keep_workspaces:
            remove(self.workspace)

    def _run(self) -> tuple[int, str]:
        script: dict[str, Any] = dict(self.task.get("script") or {})
        runtime: dict[str, Any] = dict(self.task.get("runtime") or {})
        container = runtime.get("container") or {}
        use_container = self.ctx.executor == "container" and bool(container.get("image"))
        try:
            if self.ctx.executor == "container" and not use_container:
                raise SetupFailed("this agent runs tasks in containers (--executor container) "
                                  "but the task names no image; set one with "
                                  "Task.create(docker=...) or use a venv agent")
            if not self.credential:
                raise SetupFailed("the server issued no run credential for this task (its "
                                  "owner no longer exists); clone it as a current user")
            if not use_container:  # the interpreter question first: before any download
                self.ctx.envs.choose_python(script.get("python_version"))
            self.workspace.mkdir(parents=True, exist_ok=True)
            code = checkout(script, self.workspace)
            if self._stopped_before_start():
                return self._stopped_result()
            if use_container:
                cmd, summary = self._container_command(script, runtime, container, code)
            else:
                env = self.env = self.ctx.envs.prepare(script.get("python_version"),
                                                       script.get("requirements"))
                cmd = [env.python, "-u", str(code.entry_point), *self._args(runtime)]
                how = "reused" if env.reused else "built"
                summary = (f"{PREFIX} worker {self.ctx.worker_id}: Python {env.version} venv "
                           f"{env.root} ({how} in {env.seconds:.2f} s); code: {code.description}")
                if env.notes:
                    summary += "\n" + "\n".join(env.notes)
        except SetupFailed as exc:
            log.info("task %s: cannot run: %s", self.id, exc.reason)
            details = [d for d in exc.details if d.strip() and d.strip() not in exc.reason]
            self.say(f"{PREFIX} the task cannot run: {exc.reason}",
                     *(f"    {d}" for d in details))
            return 1, exc.reason
        if self._stopped_before_start():
            return self._stopped_result()
        self.say(*summary.split("\n"))
        child_env = self._child_env(None if use_container else Path(cmd[0]).parent.parent)
        try:
            child = ChildProcess(cmd, cwd=code.cwd, env=child_env, on_lines=self.console)
        except OSError as exc:
            reason = f"cannot start {cmd[0]}: {exc.strerror or exc}"
            self.say(f"{PREFIX} the task cannot run: {reason}")
            return 1, reason
        with self._lock:
            self.child = child
            early_stop = self.stop_reason
        if early_stop is not None:  # stopped while we were starting it
            child.stop(early_stop, self.ctx.grace_seconds)
        log.info("task %s: started pid %d (%.0f ms after dequeue)", self.id, child.pid,
                 (time.monotonic() - self.started) * 1000)
        exit_code = child.pump()
        log.info("task %s: exited with %d", self.id, exit_code)
        if self.stop_reason is not None:
            how = "SIGTERM" if exit_code != -signal.SIGKILL else \
                f"SIGTERM, then SIGKILL after {self.ctx.grace_seconds:g} s"
            self.say(f"{PREFIX} stopped ({how}): {self.stop_reason}")
            return (exit_code if exit_code else -signal.SIGTERM), self._stop_message()
        if exit_code == 0:
            return 0, ""
        if exit_code < 0:
            return exit_code, f"process {_signal_text(exit_code)}"
        return exit_code, f"process exited with code {exit_code}"

    def _stopped_before_start(self) -> bool:
        return self.stop_reason is not None

    def _stopped_result(self) -> tuple[int, str]:
        self.say(f"{PREFIX} not started: {self.stop_reason}")
        return -signal.SIGTERM, self._stop_message()

    def _stop_message(self) -> str:
        return self.stop_message

    @staticmethod
    def _args(runtime: dict[str, Any]) -> list[str]:
        args = runtime.get("args") or []
        return [str(a) for a in args] if isinstance(args, list) else []

    def _child_env(self, venv: Path | None) -> dict[str, str]:
        """The task's environment: the agent's, minus its credentials and server settings,
        plus the run's own credential."""
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        env["ARNO_API_HOST"] = self.ctx.api_env["ARNO_API_HOST"]
        if self.credential:
            env.update(ARNO_API_KEY=str(self.credential["access_key"]),
                       ARNO_API_SECRET=str(self.credential["secret_key"]))
        env.update(ARNO_TASK_ID=self.id, ARNO_AGENT_CONSOLE="1", PYTHONUNBUFFERED="1",
                   ARNO_WORKER_ID=self.ctx.worker_id)
        if self.queue:
            env["ARNO_QUEUE"] = self.queue
        if self.ctx.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.ctx.gpus)
        if venv is not None:
            env["VIRTUAL_ENV"] = str(venv)
            env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _container_command(self, script: dict[str, Any], runtime: dict[str, Any],
                           container: dict[str, Any], code: Code) -> tuple[list[str], str]:
        engine = self.ctx.container_engine or find_engine()
        if engine is None:
            raise SetupFailed("this agent runs tasks in containers but neither docker nor "
                              "podman is installed on its machine")
        env = {k: v for k, v in self._child_env(None).items()
               if k.startswith(("ARNO_", "CUDA_", "PYTHON"))}
        if self.ctx.gpus is not None:
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(self.ctx.gpus) or "void"
        spec = ContainerSpec(
            image=str(container["image"]), task_id=self.id, workspace=self.workspace,
            code_root=code.root, entry_point=code.entry_point, cwd=code.cwd,
            cache_dir=self.ctx.work_dir / "container-cache",
            env_file=write_env_file(self.workspace / ".arno-env", env),
            args=self._args(runtime), arguments=str(container.get("arguments") or ""),
            gpus=self.ctx.gpus, requirements=normalise_requirements(script.get("requirements")),
            sdk_requirements=self.ctx.sdk_requirements(),
            arno_package=Path(__file__).resolve().parents[1],
        )
        spec.cache_dir.mkdir(parents=True, exist_ok=True)
        summary = (f"{PREFIX} worker {self.ctx.worker_id}: container {spec.image} with "
                   f"{Path(engine).name}; code: {code.description}")
        return build_command(engine, spec), summary

    # ---- the end -----------------------------------------------------------------------------
    def refuse(self, message: str) -> None:
        """End a task this agent will not run (it was stopping when the task came)."""
        self.say(f"{PREFIX} {message}")
        self.reporter.start()
        self._finish(1, message)

    def _finish(self, code: int, message: str) -> None:
        """Console first, then ``done``; both retried while the server is away."""
        delay = 0.5
        give_up_at: float | None = None
        while True:
            if self.reporter.flush(wait=True, timeout=30):
                try:
                    reply = self.ctx.session.post(
                        f"workers/{self.ctx.worker_id}/tasks/{self.id}/done",
                        {"exit_code": code, "message": message[:4000]}, retry=True)
                    self.final_status = reply.get("status") if isinstance(reply, dict) else None
                    log.info("task %s: %s", self.id, self.final_status)
                    break
                except NotFound:
                    log.warning("task %s: gone from the server", self.id)
                    break
                except ServerUnavailable as exc:
                    log.warning("task %s: cannot report its end yet: %s", self.id, exc)
                except ArnoError as exc:
                    if exc.status < 500:
                        log.warning("task %s: the server refused its end: %s", self.id, exc)
                        break
                    log.warning("task %s: the server failed to record its end (%s); retrying",
                                self.id, exc)
            if self.ctx.stopping.is_set():
                if give_up_at is None:
                    give_up_at = time.monotonic() + FINISH_PATIENCE
                elif time.monotonic() > give_up_at:
                    log.warning("task %s: the server is away; its end is not reported (its "
                                "lease will lapse)", self.id)
                    break
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        self.reporter.close(timeout=10)

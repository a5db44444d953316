"""The agent: registers as a worker, long-polls its queues, runs what it gets, heartbeats.

Threads: the *poller* asks the server for work (the server holds the request until a task is
queued or ``POLL_WAIT`` seconds pass) whenever a slot is free; each task runs in a thread of
its own (:class:`~arno.agent._runner.TaskRun`); the *heartbeat* thread sends machine stats and
the ids of the running tasks, which renews their leases, and stops the tasks the server names
in its answer (aborted, or no longer leased to this worker). The main thread waits for a stop
signal. While the server is away every call is retried with exponential backoff (capped at
``MAX_BACKOFF``); running tasks go on, their console spooled to disk.

On SIGTERM/SIGINT the agent takes no more work, ends its running tasks (or, with
``finish_tasks``, waits for them), reports them and unregisters.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from arno.agent._environment import EnvBuilder, sdk_requirement_pins
from arno.agent._pythons import Interpreters
from arno.agent._runner import RunContext, TaskRun
from arno.agent._stats import MachineStats, gpu_indices
from arno.client import ApiSession, keep_delivering, load_config
from arno.core.errors import (
    ArnoError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServerUnavailable,
    Unauthorized,
)

log = logging.getLogger("arno.agent")

POLL_WAIT = 30.0
MAX_BACKOFF = 10.0
EXECUTORS = ("venv", "container")


def default_worker_id(gpus: list[str] | None) -> str:
    host = "".join(c if c.isalnum() or c in "_.-" else "-" for c in socket.gethostname())
    tag = "" if gpus is None else (f"gpu{'-'.join(gpus)}:" if gpus else "cpu:")
    return f"{host or 'host'}:{tag}{os.getpid()}"


class _Backoff:
    def __init__(self, start: float = 0.25, cap: float = MAX_BACKOFF) -> None:
        self.start = start
        self.cap = cap
        self.delay = 0.0

    def next(self) -> float:
        self.delay = self.start if not self.delay else min(self.delay * 2, self.cap)
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0


class Agent:
    def __init__(
        self,
        session: ApiSession,
        worker_id: str | None,
        queues: list[str],
        *,
        gpus: list[str] | None = None,
        cpu_only: bool = False,
        services_mode: int = 0,
        executor: str = "venv",
        pythons: list[str] | None = None,
        work_dir: Path | None = None,
        heartbeat_interval: float | None = None,
        grace_seconds: float = 10.0,
        finish_tasks: bool = False,
        container_engine: str | None = None,
        keep_workspaces: bool = False,
        use_uv: bool = True,
        keep_venvs: int = 10,
        parent_pid: int | None = None,
    ) -> None:
        if not queues:
            raise InvalidInput("an agent needs at least one queue")
        if executor not in EXECUTORS:
            raise InvalidInput(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
        if cpu_only and gpus:
            raise InvalidInput("--gpus and --cpu-only exclude each other")
        if services_mode < 0:
            raise InvalidInput("services mode must be 0 (one task at a time) or more")
        self.session = session
        self.queues = list(queues)
        # None: the task inherits CUDA_VISIBLE_DEVICES; []: it sees no GPU
        self.gpus: list[str] | None = [] if cpu_only else (list(gpus) if gpus else None)
        self.worker_id = worker_id or default_worker_id(self.gpus)
        self.capacity = max(1, services_mode)
        self.services_mode = services_mode
        self.executor = executor
        self.grace_seconds = grace_seconds
        self.finish_tasks = finish_tasks
        self.parent_pid = parent_pid
        self._fixed_interval = heartbeat_interval
        self.heartbeat_interval = heartbeat_interval or 10.0
        self.work_dir = Path(work_dir or load_config().home / "agent")
        try:
            interpreters = Interpreters.discover(pythons)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        self.interpreters = interpreters
        self.envs = EnvBuilder(self.work_dir, interpreters, use_uv=use_uv,
                               keep_venvs=keep_venvs)
        # a task never gets the agent's key: each run reports with its own (see TaskRun)
        api_env = {"ARNO_API_HOST": session.host}
        self.stopping = threading.Event()
        self.ctx = RunContext(
            session=session, worker_id=self.worker_id, api_env=api_env, envs=self.envs,
            work_dir=self.work_dir, gpus=self.gpus, executor=executor,
            container_engine=container_engine, grace_seconds=grace_seconds,
            keep_workspaces=keep_workspaces, stopping=self.stopping,
            sdk_requirements=sdk_requirement_pins,
        )
        self.stats = MachineStats(self.gpus)
        self._runs: dict[str, TaskRun] = {}  # dequeued and not yet reported done
        self._busy: set[str] = set()  # of those, the ones whose process has not ended
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Condition()
        self._accepting = True
        self._fatal: ArnoError | None = None
        self._stop_reason = ""
        self._server_away = False
        self.tasks_done = 0

    # ---- public --------------------------------------------------------------------------
    def run(self) -> None:
        """Register, serve until stopped (signal or :meth:`request_stop`), clean up. Raises the
        error that made the agent stop, if one did (e.g. its key was revoked)."""
        self._install_signals()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._register()
        if self.stopping.is_set():
            self._raise_fatal()
            return
        # batches that ended processes left in this machine's spools: now and every minute
        keep_delivering(self.session, load_config().home, self.stopping,
                        extra_roots=[self.work_dir / "spool"])
        log.info("worker %s serving %s (%s executor, %s at once, Python %s, GPUs %s)",
                 self.worker_id, ", ".join(self.queues), self.executor, self.capacity,
                 self.interpreters.describe(),
                 "none" if self.gpus == [] else ",".join(self.gpus or []) or "inherited")
        heart = threading.Thread(target=self._heartbeat_loop, name="arno-heartbeat",
                                 daemon=True)
        heart.start()
        poller = threading.Thread(target=self._poll_loop, name="arno-poller", daemon=True)
        poller.start()
        while not self.stopping.wait(0.5):
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self.request_stop("the process that started the agent is gone")
        self._shutdown(poller, heart)
        self._raise_fatal()

    def request_stop(self, reason: str = "asked to stop", *, quiet: bool = False) -> None:
        if not self.stopping.is_set():
            self._stop_reason = reason
            if not quiet:
                log.info("stopping: %s", reason)
        with self._lock:
            self._accepting = False
            self._lock.notify_all()
        self.stopping.set()

    @property
    def running(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    # ---- registration ----------------------------------------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame: Any) -> None:
            self.request_stop(f"received {signal.Signals(signum).name}")

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _register_body(self) -> dict[str, Any]:
        gpus = self.gpus if self.gpus is not None else gpu_indices()
        return {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "queues": self.queues,
            "gpus": gpus,
            "info": {
                "pid": os.getpid(),
                "executor": self.executor,
                "services_mode": self.services_mode,
                "python_versions": self.interpreters.versions,
                "cpu_only": self.gpus == [],
                "version": _arno_version(),
            },
        }

    def _register(self) -> None:
        backoff = _Backoff()
        while not self.stopping.is_set():
            try:
                self.session.post("workers", self._register_body(), retry=False)
                if self._server_away:
                    log.info("the server is back")
                    self._server_away = False
                return
            except (Unauthorized, Forbidden) as exc:
                self._fail(exc)
                return
            except ServerUnavailable as exc:
                self._away(exc, backoff)
            except ArnoError as exc:
                if exc.status >= 500:  # the server is up but failing (e.g. its database)
                    self._away(exc, backoff)
                    continue
                self._fail(exc)  # e.g. the worker name is taken: nothing to retry
                return

    def _fail(self, exc: ArnoError) -> None:
        if isinstance(exc, Unauthorized):
            exc = Unauthorized(
                f"the server at {self.session.host} refused the agent's credentials "
                f"({exc.message}); check ARNO_API_KEY / ARNO_API_SECRET or run `arno login`")
        self._fatal = exc
        self.request_stop(exc.message, quiet=True)  # the caller prints the error itself

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _away(self, exc: Exception, backoff: _Backoff) -> None:
        if self.stopping.is_set():
            return  # the server may well go first when both are stopping: nothing to report
        delay = backoff.next()
        if not self._server_away:
            log.warning("the server is unreachable (%s); retrying with backoff up to %.0f s",
                        exc, MAX_BACKOFF)
            self._server_away = True
        self.stopping.wait(delay)

    # ---- polling -----------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        backoff = _Backoff()
        while not self.stopping.is_set():
            with self._lock:
                while self._accepting and len(self._busy) >= self.capacity:
                    self._lock.wait(1.0)
                if not self._accepting:
                    return
            try:
                reply = self.session.request(
                    "POST", f"workers/{self.worker_id}/dequeue",
                    json_body={"queues": self.queues, "wait": POLL_WAIT}, retry=False,
                ).json()
            except ServerUnavailable as exc:
                self._away(exc, backoff)
                continue
            except NotFound:
                if self.stopping.is_set():
                    return
                log.warning("the server does not know this worker (any more); registering")
                self._register()
                continue
            except (Unauthorized, Forbidden) as exc:
                self._fail(exc)
                return
            except ArnoError as exc:
                log.error("dequeue failed: %s", exc)
                self._away(exc, backoff)
                continue
            backoff.reset()
            if self._server_away:
                log.info("the server is back")
                self._server_away = False
            task = reply.get("task")
            if task:
                self._start(task, reply.get("queue"), reply.get("credential"))

    def _start(self, task: dict[str, Any], queue: str | None,
               credential: dict[str, Any] | None = None) -> None:
        run = TaskRun(self.ctx, task, queue, on_process_end=self._release,
                      credential=credential)
        with self._lock:
            accepted = self._accepting
            if accepted:
                self._runs[run.id] = run
                self._busy.add(run.id)
        if not accepted:
            # dequeued in the instant the agent began to stop: give it back as failed
            log.warning("task %s arrived while stopping; reporting it not run", run.id)
            run.refuse(f"not run: worker {self.worker_id} was stopping when it received the "
                       "task; enqueue it again")
            return
        log.info("task %s (%s) from %s", run.id, task.get("name"), queue)
        thread = threading.Thread(target=self._run_task, args=(run,),
                                  name=f"arno-task-{run.id[:8]}", daemon=True)
        with self._lock:
            self._threads[run.id] = thread
        thread.start()

    def _release(self, run: TaskRun) -> None:
        with self._lock:
            self._busy.discard(run.id)
            self._lock.notify_all()

    def _run_task(self, run: TaskRun) -> None:
        try:
            run.run()
        finally:
            with self._lock:
                self._busy.discard(run.id)
                self._runs.pop(run.id, None)
                self._threads.pop(run.id, None)
                self.tasks_done += 1
                self._lock.notify_all()

    # ---- heartbeats --------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        backoff = _Backoff()
        while not self.stopping.is_set():
            wait = self._beat(backoff)
            if self.stopping.wait(wait):
                break
        # while tasks finish after a stop, keep their leases alive
        while self.running:
            self._beat(backoff)
            with self._lock:
                if self._runs:
                    self._lock.wait(min(self.heartbeat_interval, 1.0))

    def _beat(self, backoff: _Backoff) -> float:
        ids = self.running
        try:
            reply = self.session.post(f"workers/{self.worker_id}/heartbeat",
                                      {"stats": self.stats.sample(), "task_ids": ids},
                                      retry=False)
        except ServerUnavailable as exc:
            self._away(exc, _Backoff(cap=0))  # log only; the wait is below
            return min(backoff.next(), self.heartbeat_interval)
        except NotFound:
            if not self.stopping.is_set():
                log.warning("the server forgot this worker; registering again")
                self._register()
            return 0.0
        except (Unauthorized, Forbidden) as exc:
            self._fail(exc)
            return self.heartbeat_interval
        except ArnoError as exc:
            log.error("heartbeat refused: %s", exc)
            return self.heartbeat_interval
        backoff.reset()
        if self._server_away:
            log.info("the server is back")
            self._server_away = False
        lease = float(reply.get("lease_seconds") or 60.0)
        if self._fixed_interval is None:
            self.heartbeat_interval = max(0.2, min(lease / 3.0, 10.0))
        for tid in reply.get("abort") or []:
            with self._lock:
                run = self._runs.get(tid)
            if run is not None:
                run.stop(*self._abort_reason(tid))
        return self.heartbeat_interval

    def _abort_reason(self, task_id: str) -> tuple[str, str]:
        """(console reason, status message) for a task the server wants stopped."""
        try:
            task = self.session.get(f"tasks/{task_id}")
        except ArnoError:
            return "the server asked to stop it", "aborted"
        status = task.get("status")
        message = str(task.get("status_message") or "")
        suffix = f" (stopping on {self.worker_id})"
        if status == "in_progress" and message.endswith(suffix):
            user = message[: -len(suffix)] or "aborted"
            return f"aborted ({user})", user
        reason = f"this worker no longer holds the task (the server has it {status}: {message})"
        return reason, f"stopped: {reason}"

    # ---- stopping ----------------------------------------------------------------------------
    def _shutdown(self, poller: threading.Thread, heart: threading.Thread) -> None:
        with self._lock:
            runs = list(self._runs.values())
        if runs and not self.finish_tasks:
            for run in runs:
                run.stop(f"worker {self.worker_id} is shutting down "
                         f"({self._stop_reason or 'asked to stop'})")
        if runs:
            log.info("waiting for %d running task(s) to %s", len(runs),
                     "finish" if self.finish_tasks else "stop")
        while True:
            with self._lock:
                threads = list(self._threads.values())
            if not threads:
                break
            for thread in threads:
                thread.join(timeout=1.0)
        try:
            self.session.request("DELETE", f"workers/{self.worker_id}", retry=False)
        except ArnoError as exc:
            log.info("could not unregister: %s", exc)
        poller.join(timeout=2.0)
        heart.join(timeout=2.0)
        log.info("worker %s stopped", self.worker_id)


def _arno_version() -> str:
    try:
        from arno import __version__

        return str(__version__)
    except Exception:  # noqa: BLE001
        return "unknown"

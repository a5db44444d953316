"""A task's process: started in a process group of its own (so it and its children are stopped
together), killed by the kernel if the agent dies (Linux), its stdout and stderr read as lines.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from arno.agent._lines import LineSplitter

__all__ = ["ChildProcess"]

#: ``(stream, text, unix time)``, as the reporter takes console lines.
OnLines = Callable[[list[tuple[str, str, float]]], None]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _in_child() -> None:
    """Runs in the forked child before exec: die with the agent's thread that started us.
    Only a foreign call, loaded beforehand (no Python imports or locks here)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # type: ignore[operator]


class ChildProcess:
    def __init__(self, cmd: list[str], *, cwd: Path, env: dict[str, str],
                 on_lines: OnLines, max_line: int = 1 << 20) -> None:
        self.cmd = cmd
        self.on_lines = on_lines
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_in_child,
        )
        self.pid = self.proc.pid
        self._splitters = {"stdout": LineSplitter(max_line), "stderr": LineSplitter(max_line)}
        self._stop_lock = threading.Lock()
        self.stop_requested: str | None = None

    # ---- output ----------------------------------------------------------------------------
    def pump(self, drain_after_exit: float = 2.0) -> int:
        """Read both streams until they close (or the process has ended and ``drain_after_exit``
        seconds pass: a background grandchild may hold them open); return the exit code."""
        sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        streams = {self.proc.stdout.fileno(): "stdout", self.proc.stderr.fileno(): "stderr"}
        for fd, name in streams.items():
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, name)
        exited_at: float | None = None
        try:
            while streams:
                for key, _ in sel.select(timeout=0.25):
                    fd = key.fd
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    name = key.data
                    if not data:
                        sel.unregister(fd)
                        del streams[fd]
                        last = self._splitters[name].finish()
                        if last is not None:
                            self.on_lines([(name, last, time.time())])
                        continue
                    lines = self._splitters[name].feed(data)
                    if lines:
                        now = time.time()
                        self.on_lines([(name, text, now) for text in lines])
                if streams and self.proc.poll() is not None:
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > drain_after_exit:
                        break
        finally:
            sel.close()
            for name, splitter in self._splitters.items():
                last = splitter.finish()
                if last is not None:
                    self.on_lines([(name, last, time.time())])
            self.proc.stdout.close()
            self.proc.stderr.close()
        code = self.proc.wait()
        self._signal_group(signal.SIGKILL)  # leftovers of the task's process group
        return code

    # ---- stopping ----------------------------------------------------------------------------
    def stop(self, reason: str, grace: float) -> None:
        """SIGTERM to the whole process group, SIGKILL after ``grace`` seconds. Returns at once;
        ``pump`` returns when the process is gone."""
        with self._stop_lock:
            if self.stop_requested is not None:
                return
            self.stop_requested = reason
        self._signal_group(signal.SIGTERM)
        timer = threading.Timer(grace, self._kill_if_alive)
        timer.daemon = True
        timer.start()

    def _kill_if_alive(self) -> None:
        if self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

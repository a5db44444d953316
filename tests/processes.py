"""Real processes for tests of crashes and outages: an ``arno server`` subprocess on a free
port with an ``ARNO_HOME`` of its own (killed with SIGKILL and started again on the same home
and port), client scripts as subprocesses, and a check of every blob in a local store against
its name."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from blake3 import blake3

from arno.core.config_file import read_config_file

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any ARNO_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(extra)
    return env


class ServerProcess:
    """``python -m arno.cli.main server --port P`` with its own ``ARNO_HOME`` and ``env``
    (extra ARNO_* settings). ``kill()`` is a crash: SIGKILL, no shutdown of any kind."""

    def __init__(self, home: Path, port: int | None = None, **env: str) -> None:
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def log_path(self, start: int | None = None) -> Path:
        return self.home.parent / f"server-{self.port}-{start or self.starts}.log"

    def start(self, timeout: float = 60) -> float:
        """Start and wait until ``/health`` answers; returns the seconds that took."""
        self.starts += 1
        began = time.monotonic()
        with self.log_path().open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "arno.cli.main", "server", "--port", str(self.port)],
                env=clean_env(ARNO_HOME=str(self.home), **self.env),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            )
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy: {self.log_text()}")

    def log_text(self) -> str:
        return "\n".join(self.log_path(i).read_text(errors="replace")
                         for i in range(1, self.starts + 1) if self.log_path(i).exists())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Like a crash or a power cut of the process: SIGKILL."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def credentials(self) -> tuple[str, str]:
        api = read_config_file(self.home / "config.toml")["api"]
        return api["access_key"], api["secret_key"]

    def client(self, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.credentials(), timeout=timeout)

    def client_env(self, client_home: Path, **extra: str) -> dict[str, str]:
        """The environment of a script talking to this server as its admin."""
        key, secret = self.credentials()
        return clean_env(ARNO_HOME=str(client_home), ARNO_API_HOST=self.url,
                         ARNO_API_KEY=key, ARNO_API_SECRET=secret, **extra)


def wait_json(path: Path, proc: subprocess.Popen[Any] | None = None,
              timeout: float = 120) -> dict[str, Any]:
    """The JSON a script wrote (atomically) to ``path``; fails early if the script ended."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"script ended early ({proc.returncode})\n"
                                 f"stdout:\n{out}\nstderr:\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path.name}")
        time.sleep(0.02)
    return dict(json.loads(path.read_text()))


def bad_blobs(store_root: Path) -> list[str]:
    """Every file under ``<store>/blobs`` whose content does not hash to its name (or whose
    name is not a hash where a hash belongs): what a reader could see half-written."""
    bad = []
    blobs = store_root / "blobs"
    for path in sorted(blobs.rglob("*")) if blobs.is_dir() else []:
        if path.is_dir():
            continue
        rel = path.relative_to(blobs).parts
        name = path.name
        if len(rel) != 3 or rel[0] != name[:2] or rel[1] != name[2:4]:
            bad.append(f"{path}: not where a blob belongs")
            continue
        h = blake3()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        if h.hexdigest() != name:
            bad.append(f"{path}: content hashes to {h.hexdigest()}")
    return bad


def blob_count(store_root: Path) -> int:
    blobs = store_root / "blobs"
    return sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.is_dir() else 0

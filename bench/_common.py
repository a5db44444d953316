"""What every benchmark shares: real server subprocesses (Arno and the MLflow peer) on free
loopback ports in temporary directories, client scripts run in their own interpreter, and the
one output format ``name: ours X, peer Y, ratio Z``.

The benchmark scripts run with Arno's interpreter. A peer runs in a virtual environment of its
own, made on first use with ``uv`` (pinned versions) under the user's cache directory
(``$XDG_CACHE_HOME`` or ``~/.cache``, then ``arno/bench/<peer>-<version>``) and reused after:
see ``peer_venv``. ``$ARNO_BENCH_MLFLOW_PYTHON`` names another MLflow interpreter instead; when
the peer can be neither found nor made, every peer figure prints as ``peer n/a``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MLFLOW_VERSION = "3.17.2"
"""The MLflow of the figures in bench/README.md."""

# Servers and clients run as after a normal install, with their bytecode cached (pip compiles it
# at install time): a PYTHONDONTWRITEBYTECODE inherited from the shell would make every start
# compile each imported module again, on both sides.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


# ---- command line ----------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    p.add_argument("--no-peer", action="store_true", help="skip MLflow (prints peer n/a)")
    return p


# ---- output ----------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    a = abs(value)
    if a >= 1000:
        return f"{value:.0f}"
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def report(name: str, ours: float | None, peer: float | None, *, higher_is_better: bool,
           note: str = "") -> str:
    """Print ``name: ours X, peer Y, ratio Z``; the ratio is how many times better ours is."""
    ratio: float | None = None
    if ours is not None and peer is not None:
        if higher_is_better:
            ratio = ours / peer if peer else None
        else:
            ratio = peer / ours if ours else None
    line = f"{name}: ours {fmt(ours)}, peer {fmt(peer)}, ratio {fmt(ratio)}"
    if note:
        line += f"  ({note})"
    print(line, flush=True)
    return line


def info(text: str) -> None:
    print(f"  # {text}", flush=True)


def machine_note() -> None:
    """The load when the run started: other work on the machine slows both sides."""
    load = os.getloadavg()[0]
    info(f"{os.cpu_count()} CPUs, load average {load:.1f} at start")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children so far."""
    import psutil

    total = 0.0
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


# ---- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Poll ``url`` until it answers 200; return the seconds it took."""
    start = time.perf_counter()
    deadline = start + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
            time.sleep(0.01)


def stop(proc: subprocess.Popen[bytes] | None, *, hard: bool = False) -> None:
    """Stop a server we started: its process group (workers included), then any descendant
    that left the group (``arno up`` runs its local agent in a session of its own)."""
    import psutil

    if proc is None or proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    try:
        os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    _gone, alive = psutil.wait_procs(descendants, timeout=0 if hard else 15)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


@dataclass
class ArnoServer:
    home: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0
    command: str = "server"
    database_url: str | None = None
    """``ARNO_DATABASE_URL`` of the server (None: SQLite in its home)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home.parent / f"arno-server-{self.port}.log"

    def start(self) -> float:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ARNO_HOME": str(self.home)}
        for var in ("ARNO_API_HOST", "ARNO_API_KEY", "ARNO_API_SECRET", "ARNO_DATABASE_URL",
                    "ARNO_STORAGE_URL"):
            env.pop(var, None)
        if self.database_url:
            env["ARNO_DATABASE_URL"] = self.database_url
        log = self.log_path.open("ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arno.cli.main", self.command, "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        try:
            wait_healthy(f"{self.url}/health", self.proc)
        except RuntimeError as exc:
            self.kill()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"arno server did not start: {exc}\n{tail}") from None
        self.start_seconds = time.perf_counter() - t0
        return self.start_seconds

    def kill(self) -> None:
        stop(self.proc, hard=True)

    def stop(self) -> None:
        stop(self.proc)

    def credentials(self) -> tuple[str, str, str]:
        with (self.home / "config.toml").open("rb") as fh:
            api = tomllib.load(fh)["api"]
        return api["host"], api["access_key"], api["secret_key"]

    def http(self) -> httpx.Client:
        _, key, secret = self.credentials()
        return httpx.Client(base_url=self.url, auth=(key, secret), timeout=120)

    def client_env(self, client_home: Path) -> dict[str, str]:
        """Environment of a client script: it finds the server through ``$ARNO_HOME``'s
        config.toml, the way a script on the server's machine does after ``arno up``."""
        client_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.home / "config.toml", client_home / "config.toml")
        env = {**os.environ, "ARNO_HOME": str(client_home)}
        for var in ("ARNO_API_HOST", "ARNO_API_KEY", "ARNO_API_SECRET", "ARNO_OFFLINE",
                    "ARNO_TASK_ID"):
            env.pop(var, None)
        return env


@contextmanager
def arno_server(tmp: Path, command: str = "server", *,
                database_url: str | None = None) -> Iterator[ArnoServer]:
    home = tmp / "arno-home"
    srv = ArnoServer(home, free_port(), command=command, database_url=database_url)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


# ---- peers' environments ----------------------------------------------------------------------


def cache_dir() -> Path:
    """Where peers' environments are kept: ``$XDG_CACHE_HOME/arno/bench`` (``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arno" / "bench"


def _uv() -> str:
    found = Path(sys.executable).with_name("uv")
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        raise RuntimeError("uv not found (it comes with Arno's dependencies)")
    return on_path


def peer_venv(peer: str, version: str, requirements: list[str], *, check: str) -> Path:
    """The virtual environment of ``peer`` at ``version``: made on first use under
    :func:`cache_dir` as ``<peer>-<version>`` with uv (``requirements`` pinned), for Arno's
    Python version; reused as it is later. ``check`` is Python code that must run in it before
    it counts as made. Several benchmarks starting at once make it once (a file lock). Raises
    RuntimeError saying why it could not be made."""
    root = cache_dir() / f"{peer}-{version}"
    ready = root / ".arno-bench-ready"
    if ready.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with (root.parent / f".{peer}-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        info(f"making {peer} {version}'s environment in {root} (once: a minute or two)")
        python = str(root / "bin" / "python")
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        steps = [
            [_uv(), "venv", "-q", "--python", sys.executable, str(root)],
            [_uv(), "pip", "install", "-q", "--python", python, *requirements],
            [python, "-c", check],
        ]
        for argv in steps:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                shutil.rmtree(root, ignore_errors=True)
                raise RuntimeError(f"{' '.join(argv[:3])} ... failed ({proc.returncode}): "
                                   f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
        ready.write_text(" ".join(requirements) + "\n")
    return root


def mlflow_python() -> str | None:
    """MLflow's interpreter: ``$ARNO_BENCH_MLFLOW_PYTHON`` when set, else the one of the
    MLflow environment of :func:`peer_venv` (made now if need be); None when there is none
    (the peer is then skipped)."""
    named = os.environ.get("ARNO_BENCH_MLFLOW_PYTHON")
    if named:
        if not Path(named).exists():
            info(f"ARNO_BENCH_MLFLOW_PYTHON={named} does not exist")
            return None
        ok = subprocess.run([named, "-c", "import mlflow"], capture_output=True, timeout=120)
        if ok.returncode != 0:
            info(f"{named} cannot import mlflow")
            return None
        return named
    try:
        root = peer_venv("mlflow", MLFLOW_VERSION, [f"mlflow=={MLFLOW_VERSION}"],
                         check="import mlflow")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        info(f"MLflow's environment could not be made: {exc}")
        return None
    return str(root / "bin" / "python")


@dataclass
class MlflowServer:
    python: str
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "server.log").open("ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [self.python, "-m", "mlflow", "server",
             "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
             "--artifacts-destination", str(self.root / "artifacts"),
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_healthy(f"{self.url}/health", self.proc, timeout=120)
        self.start_seconds = time.perf_counter() - t0
        return self.start_seconds

    def stop(self) -> None:
        stop(self.proc)

    def client_env(self) -> dict[str, str]:
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.url}
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        return env


@contextmanager
def mlflow_server(tmp: Path, python: str) -> Iterator[MlflowServer]:
    srv = MlflowServer(python, tmp / "mlflow", free_port())
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"arno-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_client(python: str, code: str, env: dict[str, str], args: dict[str, Any],
               *, cwd: Path, timeout: float = 900) -> dict[str, Any]:
    """Run ``code`` in a fresh ``python``; it reads its arguments as JSON from ``sys.argv[1]``
    and writes its result as JSON to the file named ``sys.argv[2]``."""
    script = cwd / f"client-{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    out = cwd / (script.stem + ".json")
    proc = subprocess.run(
        [python, str(script), json.dumps(args), str(out)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"client script failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def peer_or_none(args: argparse.Namespace) -> str | None:
    if args.no_peer:
        return None
    py = mlflow_python()
    if py is None:
        info("no MLflow (see above; ARNO_BENCH_MLFLOW_PYTHON names an interpreter that has "
             "it): peer n/a")
    return py


PG_URL = os.environ.get("ARNO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    dbname = f"arno_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{dbname}"
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": dbname})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}"'))
        admin.dispose()


# ---- extra packages for one benchmark ---------------------------------------------------------


def _pip_run(argv: list[str], what: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {what} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-1500:]}")


def _imports(python: str, check: str, pythonpath: Path | None = None) -> bool:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([python, "-c", check], env=env, capture_output=True,
                          timeout=300).returncode == 0


def pip_target(name: str, requirements: list[str], *, check: str) -> Path | None:
    """Packages a benchmark's client scripts need beside Arno's own, without touching Arno's
    environment: None when ``check`` already runs in Arno's interpreter, else a folder under
    :func:`cache_dir` (``<name>``, made once with ``pip install --target --no-deps``) to put on
    the scripts' ``PYTHONPATH``. pip, not uv: it reads the machine's pip configuration (local
    wheels). Raises RuntimeError saying why it could not be made."""
    if _imports(sys.executable, check):
        return None
    root = cache_dir() / name
    ready = root / ".arno-bench-ready"
    if ready.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with (root.parent / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        info(f"installing {' '.join(requirements)} into {root} (once)")
        _pip_run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  "--no-deps", "--target", str(root), *requirements], " ".join(requirements))
        if not _imports(sys.executable, check, root):
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"{check!r} fails with {' '.join(requirements)} on the path")
        ready.write_text(" ".join(requirements) + "\n")
    return root


def peer_pip_install(python: str, requirements: list[str], *, check: str) -> None:
    """Add ``requirements`` to a peer's environment (the one of ``python``) unless ``check``
    runs there already: with Arno's pip (``pip --python``), which finds packages such as
    torch's CPU build where the machine's pip configuration says (uv would fetch another
    build). Once per environment (a file lock). Raises RuntimeError saying why not."""
    if _imports(python, check):
        return
    root = Path(os.path.abspath(python)).parents[1]
    with (root.parent / f".{root.name}-pip.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _imports(python, check):
            return
        info(f"installing {' '.join(requirements)} into {root} (once: a few minutes)")
        _pip_run([sys.executable, "-m", "pip", "--python", python, "install", "-q",
                  "--disable-pip-version-check", *requirements], " ".join(requirements))
        if not _imports(python, check):
            raise RuntimeError(f"{check!r} still fails after installing "
                               f"{' '.join(requirements)}")

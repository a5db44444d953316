"""The dataset benchmark's peer: DVC, run as its own command-line tool from its own virtual
environment (made on first use under the user's cache directory by ``_common.peer_venv``,
``arno/bench/dvc-<version>``, or ``$ARNO_BENCH_DVC``), in a temporary git
repository whose ``data/`` folder it tracks, with a local remote (a directory) or an S3 remote on
the moto server the benchmark started. Its defaults otherwise (cache type ``reflink,copy``,
``dvc push``/``pull`` with their default number of jobs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loaded by path from the tests, too

import _common as c  # noqa: E402

DVC_VERSION = "3.67.1"
"""The DVC of the figures in bench/README.md; ``dvc-s3`` beside it for ``--s3``."""
DVC_REQUIREMENTS = [f"dvc=={DVC_VERSION}", "dvc-s3==3.3.0"]

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def dvc_executable(*, s3: bool) -> tuple[str | None, str]:
    """DVC's executable, or None and why not (then every peer figure prints ``peer n/a``):
    ``$ARNO_BENCH_DVC`` when set, else the one of DVC's own environment (made now if need be).
    """
    path = os.environ.get("ARNO_BENCH_DVC")
    if path and not Path(path).exists():
        return None, f"ARNO_BENCH_DVC={path} does not exist"
    if not path:
        try:
            root = c.peer_venv("dvc", DVC_VERSION, DVC_REQUIREMENTS, check="import dvc")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            return None, f"DVC's environment could not be made: {exc}"
        path = str(root / "bin" / "dvc")
    proc = subprocess.run([path, "version"], capture_output=True, text=True, timeout=120,
                          env=_clean_env())
    if proc.returncode != 0:
        return None, f"{path} version failed: {proc.stderr.strip()[-500:]}"
    if s3 and "s3 (" not in proc.stdout:
        return None, f"{path} has no S3 support (install dvc-s3 in its environment)"
    first = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else "DVC"
    return path, first


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ARNO_", "VIRTUAL_ENV", "PYTHON", "AWS_", "GIT_", "DVC_"))}
    env["DVC_NO_ANALYTICS"] = "1"
    return env


@dataclass
class DvcRepo:
    """A git + DVC repository at ``root`` tracking ``root/data``."""

    exe: str
    root: Path
    remote_url: str
    site_cache: Path
    endpoint_url: str | None = None
    s3_credentials: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def env(self) -> dict[str, str]:
        env = _clean_env()
        env.update(GIT_IDENTITY)
        env["DVC_SITE_CACHE_DIR"] = str(self.site_cache)
        env.update(self.s3_credentials)
        return env

    def _run(self, *argv: str, cwd: Path | None = None) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(list(argv), cwd=cwd or self.root, env=self.env(),
                              capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return seconds

    def dvc(self, *args: str, cwd: Path | None = None) -> float:
        return self._run(self.exe, *args, cwd=cwd)

    def git(self, *args: str, cwd: Path | None = None) -> float:
        return self._run("git", *args, cwd=cwd)

    def init(self) -> None:
        """``git init``, ``dvc init``, the default remote; committed (not timed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.site_cache.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.dvc("init", "-q")
        self.dvc("remote", "add", "-d", "store", self.remote_url)
        if self.endpoint_url:
            self.dvc("remote", "modify", "store", "endpointurl", self.endpoint_url)
        self.git("add", ".dvc", ".dvcignore")
        self.git("commit", "-q", "-m", "dvc init")

    def new_version(self, message: str) -> float:
        """``dvc add data`` + ``dvc push``, timed; then the ``.dvc`` file is committed."""
        add = self.dvc("add", "-q", "data")
        push = self.dvc("push", "-q")
        self.git("add", "data.dvc", ".gitignore")
        self.git("commit", "-q", "-m", message)
        self.timings = {"add": add, "push": push}
        return add + push

    def fresh_pull(self, dest: Path) -> float:
        """``git clone`` of the repository (not timed), then ``dvc pull`` into its empty cache
        (timed); the data lands in ``dest/data``."""
        self.git("clone", "-q", str(self.root), str(dest), cwd=dest.parent)
        if (dest / ".dvc" / "cache").exists():
            raise RuntimeError("a fresh clone should have no DVC cache")
        return self.dvc("pull", "-q", cwd=dest)

    def cleanup(self) -> None:
        shutil.rmtree(self.site_cache, ignore_errors=True)

"""The dataset benchmark's surroundings: its data (seeded layout, ``os.urandom`` contents) and
how it is checked, where each side's bytes are stored and measured (a local directory or an S3
prefix), a moto S3 server, a fresh PostgreSQL database, and ``arno server`` with extra settings.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as c
import httpx
from _common import postgres_database  # noqa: F401 - used by bench_datasets

KIB, MIB = 1024, 1024 * 1024
S3_KEYS = {"key": "testing", "secret": "testing"}


@dataclass(frozen=True)
class Sizes:
    small_files: int
    small_size: int
    big_files: int
    big_size: int

    @property
    def total(self) -> int:
        return self.small_files * self.small_size + self.big_files * self.big_size

    def describe(self) -> str:
        return (f"{self.small_files:,} files x {self.small_size // KIB} KiB + {self.big_files} "
                f"x {self.big_size // MIB} MiB = {self.total / MIB:,.0f} MiB, os.urandom")


FULL = Sizes(10_000, 10 * KIB, 5, 100 * MIB)
SMALL = Sizes(1_000, 10 * KIB, 5, 10 * MIB)


# ---- data ------------------------------------------------------------------------------------


def make_data(root: Path, sizes: Sizes, rng: random.Random) -> tuple[list[Path], list[Path]]:
    """Small files in a seeded tree (1 to 3 levels under ``small/``), large ones in ``big/``."""
    small = []
    for i in range(sizes.small_files):
        depth = rng.randint(1, 3)
        parts = [f"d{rng.randrange(8 if d else 20):02d}" for d in range(depth)]
        small.append(root.joinpath("small", *parts, f"f{i:05d}.bin"))
    big = [root / "big" / f"part-{i}.bin" for i in range(sizes.big_files)]
    for path in small:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(sizes.small_size))
    for path in big:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            left = sizes.big_size
            while left:
                n = min(left, 8 * MIB)
                fh.write(os.urandom(n))
                left -= n
    return small, big


def rewrite_share(paths: list[Path], rng: random.Random, share: float) -> int:
    chosen = rng.sample(paths, max(1, round(len(paths) * share)))
    for path in chosen:
        path.write_bytes(os.urandom(path.stat().st_size))
    return len(chosen)


def overwrite_middle(path: Path, length: int) -> None:
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2 - length // 2)
        fh.write(os.urandom(length))


def tree_digest(root: Path) -> dict[str, str]:
    import blake3

    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = blake3.blake3(p.read_bytes()).hexdigest()
    return out


def check_copy(who: str, copy: Path, expected: dict[str, str]) -> None:
    got = tree_digest(copy)
    if got != expected:
        wrong = sorted(set(got.items()) ^ set(expected.items()))[:5]
        raise SystemExit(f"{who}: the copy at {copy} differs from the data: {wrong}")


# ---- where bytes are stored ------------------------------------------------------------------


@dataclass
class Storage:
    """The local directory or S3 prefix of one side's stored bytes."""

    path: str
    s3: Any = None  # an s3fs filesystem when on S3

    def objects(self) -> dict[str, int]:
        """Every stored object (blob or file) and its size."""
        if self.s3 is not None:
            try:
                found = self.s3.find(self.path, detail=True)
            except FileNotFoundError:
                return {}
            return {k: int(v["size"]) for k, v in found.items()}
        out = {}
        for dirpath, _dirs, files in os.walk(self.path):
            for f in files:
                out[os.path.join(dirpath, f)] = (Path(dirpath) / f).stat().st_size
        return out

    def size(self) -> int:
        return sum(self.objects().values())


@contextmanager
def moto_s3(tmp: Path) -> Iterator[str]:
    """A moto S3 server (real HTTP on loopback) with the bucket ``bench``."""
    import boto3

    port = c.free_port()
    log = (tmp / "moto.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1",
         "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint, timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_KEYS["key"],
                     aws_secret_access_key=S3_KEYS["secret"],
                     region_name="us-east-1").create_bucket(Bucket="bench")
        yield endpoint
    finally:
        c.stop(proc)




@contextmanager
def arno_server(tmp: Path, extra: dict[str, str]) -> Iterator[c.ArnoServer]:
    """``arno server`` on a fresh home, with ``extra`` settings (``ArnoServer.start`` would
    clear ARNO_DATABASE_URL and ARNO_STORAGE_URL)."""
    srv = c.ArnoServer(tmp / "arno-home", c.free_port())
    srv.home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(srv.home), **extra)
    log = srv.log_path.open("ab")
    srv.proc = subprocess.Popen(
        [sys.executable, "-m", "arno.cli.main", "server", "--port", str(srv.port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        try:
            c.wait_healthy(f"{srv.url}/health", srv.proc)
        except RuntimeError as exc:
            raise SystemExit(f"arno server: {exc}\n{srv.log_path.read_text()[-3000:]}") from None
        yield srv
    finally:
        srv.stop()

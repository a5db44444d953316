"""Batched, non-blocking reporting of a task's events.

Calls from the training loop only append to an in-memory buffer (a lock and a list append).
A background thread turns the buffer into batches, each with its own id, and sends them. When
the server cannot be reached, batches go to an on-disk spool under ``$ARNO_HOME/spool`` and are
sent, in order, once it answers again; the batch id lets the server store a retried batch once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from arno.core.errors import ArnoError, ServerUnavailable

log = logging.getLogger("arno.reporter")


class _Session(Protocol):
    def request(self, method: str, path: str, **kwargs: Any) -> Any: ...


class Spool:
    """Batches waiting for the server, one JSON file each, sent in file-name order."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._seq = 0

    def files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if p.suffix == ".json")

    def add(self, body: bytes) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{time.time_ns():020d}-{self._seq:06d}.json"
        tmp = self.dir / (name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        final = self.dir / name
        os.replace(tmp, final)
        return final

    def __len__(self) -> int:
        return len(self.files())


class Reporter:
    def __init__(
        self,
        session: _Session,
        task_id: str,
        *,
        spool_dir: Path,
        flush_interval: float = 2.0,
        max_batch_points: int = 100_000,
        max_console_line: int = 1 << 20,
    ) -> None:
        self.session = session
        self.task_id = task_id
        self.spool = Spool(spool_dir / task_id)
        self.flush_interval = flush_interval
        self.max_batch_points = max_batch_points
        self.max_console_line = max_console_line
        self._lock = threading.Lock()
        self._scalars: list[tuple[str, str, int, float, float]] = []
        self._other: dict[str, list[dict[str, Any]]] = {
            "single_values": [], "plots": [], "debug_samples": [], "console": [],
        }
        self._last_iteration: int | None = None
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent_batches = 0
        self.dropped_batches = 0
        self.last_error: str | None = None

    # ---- the hot path ----------------------------------------------------------------------
    def scalar(self, metric: str, variant: str, iteration: int, value: float) -> None:
        item = (metric, variant, iteration, value, time.time())
        with self._lock:
            buf = self._scalars
            buf.append(item)
        if len(buf) >= self.max_batch_points:
            self._wake.set()

    def scalars(self, metric: str, values: dict[str, float], iteration: int) -> None:
        now = time.time()
        with self._lock:
            self._scalars.extend((metric, k, iteration, v, now) for k, v in values.items())

    def _add(self, kind: str, item: dict[str, Any]) -> None:
        with self._lock:
            self._other[kind].append(item)

    def single_value(self, name: str, value: float) -> None:
        self._add("single_values", {"name": name, "value": value, "timestamp": time.time()})

    def plot(self, metric: str, variant: str, iteration: int, figure: dict[str, Any]) -> None:
        self._add("plots", {"metric": metric, "variant": variant, "iteration": iteration,
                            "figure": figure, "timestamp": time.time()})

    def debug_sample(self, sample: dict[str, Any]) -> None:
        self._add("debug_samples", {"timestamp": time.time(), **sample})

    def console(self, lines: list[tuple[str, str, float]]) -> None:
        with self._lock:
            self._other["console"].extend(
                {"stream": stream, "text": text, "timestamp": ts} for stream, text, ts in lines
            )

    def set_last_iteration(self, iteration: int) -> None:
        self._last_iteration = iteration

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="arno-reporter", daemon=True)
            self._thread.start()

    def flush(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Send what was reported so far; with ``wait``, return once it is stored (True) or
        spooled to disk because the server is away (False), or on timeout (False)."""
        if self._thread is None:
            self._drain()
            return not len(self.spool)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            self._wake.set()
            if not wait:
                return True
            while True:
                if not self._busy and not self._has_pending() and not self._wake.is_set():
                    return not len(self.spool)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(timeout=0.05 if remaining is None else min(remaining, 0.05))

    def close(self, timeout: float | None = 60.0) -> bool:
        ok = self.flush(wait=True, timeout=timeout)
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return ok

    def _has_pending(self) -> bool:
        with self._lock:
            return bool(self._scalars) or any(self._other.values())

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.flush_interval)
            with self._idle:
                self._busy = True
                self._wake.clear()
            try:
                self._drain()
            except Exception:  # noqa: BLE001 - the reporter thread must never die
                log.exception("arno reporter failed")
            finally:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()

    # ---- sending -----------------------------------------------------------------------------
    def _take(self) -> tuple[list[tuple[str, str, int, float, float]], dict[str, list[Any]]]:
        with self._lock:
            scalars, self._scalars = self._scalars, []
            other = self._other
            self._other = {k: [] for k in other}
        return scalars, other

    def _batches(self) -> list[bytes]:
        scalars, other = self._take()
        bodies: list[bytes] = []
        step = self.max_batch_points
        for start in range(0, max(len(scalars), 1), step):
            chunk = scalars[start : start + step]
            groups: dict[tuple[str, str], tuple[list[int], list[float], list[float]]] = {}
            for metric, variant, it, value, ts in chunk:
                g = groups.get((metric, variant))
                if g is None:
                    g = groups[(metric, variant)] = ([], [], [])
                g[0].append(it)
                g[1].append(value)
                g[2].append(ts)
            batch: dict[str, Any] = {
                "batch_id": uuid.uuid4().hex,
                "scalars": [
                    {"metric": m, "variant": v, "iterations": g[0], "values": g[1],
                     "timestamps": g[2]}
                    for (m, v), g in groups.items()
                ],
            }
            if start == 0:
                batch.update({k: v for k, v in other.items() if v})
                if self._last_iteration is not None:
                    batch["last_iteration"] = self._last_iteration
            if len(batch) > 1 and (batch["scalars"] or len(batch) > 2):
                bodies.append(json.dumps(batch, separators=(",", ":")).encode())
        return bodies

    def _send(self, body: bytes) -> bool:
        """True when stored (or refused for good); False when the server is away."""
        try:
            self.session.request(
                "POST", f"tasks/{self.task_id}/events", content=body,
                headers={"content-type": "application/json"}, retry=True,
            )
            self.sent_batches += 1
            return True
        except ServerUnavailable as exc:
            self.last_error = str(exc)
            return False
        except ArnoError as exc:
            # The server understood and refused (e.g. 409 published, 422): retrying won't help.
            self.dropped_batches += 1
            self.last_error = str(exc)
            log.warning("arno: a report batch was refused: %s", exc)
            return True

    def _drain(self) -> None:
        for path in self.spool.files():
            if not self._send(path.read_bytes()):
                break
            path.unlink(missing_ok=True)
        for body in self._batches():
            if len(self.spool) or not self._send(body):
                self.spool.add(body)

"""Batched, non-blocking reporting of a task's events.

Calls from the training loop only append to an in-memory buffer (a lock and three list
appends to the series' columns). A background thread turns the buffer into batches, each with
its own id, and sends them. When
the server cannot be reached, batches go to an on-disk spool under ``$ARNO_HOME/spool`` and are
sent, in order, once it answers again; the batch id lets the server store a retried batch once.
Batches still spooled when the process ends are sent by the next Arno process on the machine
(see :mod:`arno.client._spool`).

Bytes (debug samples, artifacts) take the same road without waiting either: :meth:`Reporter.blob`
hashes them and writes them into the spool folder at once (no fsync), and the record that
refers to them (a debug sample in the next batch, an artifact record written by
:meth:`Reporter.request`) comes after them in the folder's order. The thread uploads each
blob before anything that follows it, so the server never holds a record whose bytes are
missing while the bytes could still come.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from blake3 import blake3

from arno.client._spool import (
    BLOB,
    REQUEST,
    Spool,
    blob_hash,
    permanent,
    send_entry,
    set_pending,
)
from arno.core.errors import ArnoError, ServerUnavailable

log = logging.getLogger("arno.reporter")


class _Session(Protocol):
    def request(self, method: str, path: str, *, json_body: Any = None,
                content: bytes | None = None, retry: bool | None = None,
                headers: dict[str, str] | None = None) -> Any: ...

    def upload_file(self, path: Path) -> tuple[str, int]: ...


class _Staged:
    """A blob or artifact record the training loop could not write into the spool at once
    (another process was delivering the folder): the reporter's thread writes it."""

    __slots__ = ("suffix", "data", "source", "move", "hash")

    def __init__(self, suffix: str, data: bytes | None, source: Path | None, move: bool,
                 hash_: str | None) -> None:
        self.suffix, self.data, self.source, self.move, self.hash = (
            suffix, data, source, move, hash_)


def _encode(batch: dict[str, Any]) -> bytes:
    """JSON of a batch. pydantic's encoder writes the same JSON as json.dumps (NaN and
    infinities as such), several times faster on long lists of floats; json.dumps remains for
    what it refuses (a lone surrogate in a console line, which json.dumps escapes)."""
    try:
        import pydantic_core  # here: on the sender's thread, not in Task.init's

        return pydantic_core.to_json(batch, inf_nan_mode="constants")
    except ValueError:  # PydanticSerializationError is one
        return json.dumps(batch, separators=(",", ":")).encode()


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
        # (metric, variant) -> (iterations, values, timestamps): grouped as reported, so a
        # batch is encoded straight from these lists
        self._series: dict[tuple[str, str], tuple[list[int], list[float], list[float]]] = {}
        self._points = 0
        self._other: dict[str, list[dict[str, Any]]] = {
            "single_values": [], "plots": [], "debug_samples": [], "console": [],
        }
        self._staged: list[_Staged] = []
        self._known_blobs: set[str] = set()  # stored on the server by this reporter
        self._last_iteration: int | None = None
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent_batches = 0
        self.dropped_batches = 0
        self.uploaded = 0  # blobs and artifact records sent
        self.last_error: str | None = None
        self._pending_noted = False  # the task says batches wait here
        # entries wait from before: an earlier process of this task left them
        self._backlog = self.spool.dir.is_dir()

    # ---- the hot path ----------------------------------------------------------------------
    def scalar(self, metric: str, variant: str, iteration: int, value: float) -> None:
        ts = time.time()
        with self._lock:
            cols = self._series.get((metric, variant))
            if cols is None:
                cols = self._series[(metric, variant)] = ([], [], [])
            cols[0].append(iteration)
            cols[1].append(value)
            cols[2].append(ts)
            self._points += 1
            full = self._points >= self.max_batch_points
        if full and not self._wake.is_set():
            self._wake.set()

    def scalars(self, metric: str, values: dict[str, float], iteration: int) -> None:
        now = time.time()
        with self._lock:
            for variant, value in values.items():
                cols = self._series.get((metric, variant))
                if cols is None:
                    cols = self._series[(metric, variant)] = ([], [], [])
                cols[0].append(iteration)
                cols[1].append(value)
                cols[2].append(now)
            self._points += len(values)

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

    # ---- bytes and records that refer to them ----------------------------------------------
    def blob(self, data: bytes | None = None, *, path: Path | None = None, move: bool = False
             ) -> tuple[str, int]:
        """Queue ``data`` (or the file at ``path``; moved into the spool when ``move``) for
        upload and return its (hash, size) at once. Report the record that refers to it after
        this returns: the thread uploads the blob first."""
        if data is not None:
            hash_, size = blake3(data).hexdigest(), len(data)
        elif path is not None:
            h = blake3()
            size = 0
            with path.open("rb") as fh:
                while chunk := fh.read(4 << 20):
                    h.update(chunk)
                    size += len(chunk)
            hash_ = h.hexdigest()
        else:
            raise ValueError("blob() needs data or a path")
        if hash_ in self._known_blobs:  # stored already (the same image again)
            if path is not None and move:
                path.unlink(missing_ok=True)
            return hash_, size
        self._put(_Staged(BLOB, data, path, move, hash_))
        return hash_, size

    def request(self, method: str, path: str, body: dict[str, Any]) -> None:
        """Queue a request (an artifact record) to send after everything queued before it."""
        data = json.dumps({"method": method, "path": path, "body": body},
                          separators=(",", ":"), default=str).encode()
        self._put(_Staged(REQUEST, data, None, False, None))

    def _put(self, item: _Staged) -> None:
        with self._lock:
            if not self._staged:  # nothing waits to be written before it: write it now
                written = self.spool.add_nowait(item.suffix, data=item.data,
                                                source=item.source, move=item.move,
                                                hash_=item.hash)
                if written is not None:
                    return
            if item.source is not None:  # keep the bytes as they are now, out of the
                item.source = self._stage_file(item.source, item.move)  # caller's way
                item.move = True
            self._staged.append(item)  # the thread writes it, in order, when it can

    def _stage_file(self, source: Path, move: bool) -> Path:
        staging = self.spool.dir.parent / f".staged-{self.task_id}"  # no deliverer looks here
        staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest = staging / uuid.uuid4().hex
        if move:
            try:
                os.replace(source, dest)
                return dest
            except OSError:
                pass
        shutil.copyfile(source, dest)
        if move:
            source.unlink(missing_ok=True)
        return dest

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
        if self._thread is None or not self._thread.is_alive():
            waiting = len(self.spool)
            if waiting:
                # one try to say so (the server is most likely away); then the folder is free
                # for whoever delivers it: a later Task.init, an agent, `arno spool send`
                self._pending_noted = set_pending(self.session, self.task_id, waiting)
            self.spool.release()
        return ok

    def _has_pending(self) -> bool:
        with self._lock:
            return bool(self._series) or any(self._other.values()) or bool(self._staged)

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
    def _take(self) -> tuple[dict[tuple[str, str], tuple[list[int], list[float], list[float]]],
                             dict[str, list[Any]]]:
        with self._lock:
            series, self._series = self._series, {}
            self._points = 0
            other = self._other
            self._other = {k: [] for k in other}
            staged, self._staged = self._staged, []
        # what the loop could not write itself goes into the folder before the batch that
        # may refer to it is formed (waiting, here, for a deliverer to let go of the folder)
        for item in staged:
            self.spool.claim()
            if self.spool.add_nowait(item.suffix, data=item.data, source=item.source,
                                     move=item.move, hash_=item.hash) is None:
                with self._lock:  # lost the folder again meanwhile: next round
                    self._staged[:0] = staged[staged.index(item):]
                break
        return series, other

    def _chunks(self, series: dict[tuple[str, str], tuple[list[int], list[float], list[float]]]
                ) -> list[list[dict[str, Any]]]:
        """The series cut (by list slices) into groups of at most ``max_batch_points``."""
        chunks: list[list[dict[str, Any]]] = [[]]
        room = self.max_batch_points
        for (metric, variant), (its, values, stamps) in series.items():
            start = 0
            while start < len(its):
                if room == 0:
                    chunks.append([])
                    room = self.max_batch_points
                end = start + room
                chunks[-1].append({"metric": metric, "variant": variant,
                                   "iterations": its[start:end], "values": values[start:end],
                                   "timestamps": stamps[start:end]})
                room -= len(its[start:end])
                start = end
        return chunks

    def _batches(self) -> list[bytes]:
        series, other = self._take()
        bodies: list[bytes] = []
        for i, chunk in enumerate(self._chunks(series)):
            batch: dict[str, Any] = {"batch_id": uuid.uuid4().hex, "scalars": chunk}
            if i == 0:
                batch.update({k: v for k, v in other.items() if v})
                if self._last_iteration is not None:
                    batch["last_iteration"] = self._last_iteration
            if len(batch) > 1 and (batch["scalars"] or len(batch) > 2):
                bodies.append(_encode(batch))
        return bodies

    def _send(self, body: bytes | None, entry: Path | None = None) -> bool:
        """Send a batch (or a spool entry). True when stored (or refused for good); False when
        the server is away."""
        try:
            if entry is not None:
                send_entry(self.session, self.task_id, entry)
                if entry.suffix == BLOB:
                    hash_ = blob_hash(entry)
                    if hash_ is not None:
                        self._known_blobs.add(hash_)
                if entry.suffix in (BLOB, REQUEST):
                    self.uploaded += 1
                else:
                    self.sent_batches += 1
                return True
            self.session.request(
                "POST", f"tasks/{self.task_id}/events", content=body,
                headers={"content-type": "application/json"}, retry=True,
            )
            self.sent_batches += 1
            return True
        except FileNotFoundError:
            return True  # sent meanwhile by someone else
        except ValueError as exc:  # an entry no server would take (it names its problem)
            self.dropped_batches += 1
            self.last_error = str(exc)
            log.warning("arno: a spooled entry was dropped: %s", exc)
            return True
        except ServerUnavailable as exc:
            self.last_error = str(exc)
            return False
        except ArnoError as exc:
            if not permanent(exc):
                # "not now" or "not with this key" (429, 401, 5xx such as a full disk): the
                # batch waits in the spool for this reporter, or whoever delivers it later
                self.last_error = str(exc)
                return False
            # The server understood and refused for good (e.g. 422): retrying won't help.
            self.dropped_batches += 1
            self.last_error = str(exc)
            log.warning("arno: a report batch was refused: %s", exc)
            return True

    def _drain(self) -> None:
        # take first, list after: every blob a taken record refers to is in the listing
        bodies = self._batches()
        if not self.spool.lock.held and self.spool.dir.is_dir():
            self.spool.claim()  # left by an earlier process of this task: ours to send now
        files = self.spool.files() if self.spool.lock.held else []
        sent = 0
        blocked = False
        for path in files:
            if not self._send(None, path):
                blocked = True
                break
            path.unlink(missing_ok=True)
            sent += 1
            if (sent == 1 and len(files) > 1 and not self._pending_noted
                    and self._backlog and not getattr(self.session, "offline", False)):
                # back after an outage with a backlog: the task's page says it is coming
                self._pending_noted = set_pending(self.session, self.task_id, len(files) - 1)
        for body in bodies:
            # entries written after the listing never precede these batches: only a stop in
            # the listing makes the batch wait its turn in the folder
            if blocked or not self._send(body):
                blocked = True
                self.spool.add(body)
        # a backlog: entries that waited for the server (or an earlier process), not the
        # blobs the loop wrote a moment ago, which every round finds and sends
        had_backlog, self._backlog = self._backlog, blocked
        if self.spool.lock.held and not len(self.spool):
            self.spool.release()
            if sent and (self._pending_noted or had_backlog):
                set_pending(self.session, self.task_id, None)
                self._pending_noted = False

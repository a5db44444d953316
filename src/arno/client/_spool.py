"""The on-disk spool: report batches waiting for the server, and their delivery.

    $ARNO_HOME/spool/<task id>/<time>-<seq>.json      one batch each, sent in name order
    $ARNO_HOME/spool/<task id>/<time>-<seq>-<hash>.blob  bytes a debug sample or artifact
                                                      refers to, uploaded (PUT blobs/<hash>)
    $ARNO_HOME/spool/<task id>/<time>-<seq>.req       an artifact record (PUT tasks/<id>/
                                                      artifacts/<name>) sent after its blob
    $ARNO_HOME/spool/<task id>/.lock                  flock'ed by the process that owns it
    $ARNO_HOME/spool/rejected/<task id>/<name>        a batch the server refused for good,
    $ARNO_HOME/spool/rejected/<task id>/<name>.reason   and why

(an agent's own task runs spool under ``$ARNO_HOME/agent/spool`` in the same shape.)

A live reporter holds the lock of its task's folder from its first spooled batch until the
folder is empty again (it then removes the folder) or the reporter closes. A folder whose lock
is free therefore belongs to no live process: an *orphan*, left by a process that ended while
the server was away. :func:`deliver_orphans` sends orphans with the caller's credentials,
holding the lock, so two deliverers never send one folder at once. Every batch carries its
``batch_id`` and the server stores a batch id once, so a batch sent again (its answer lost,
its deliverer killed before removing the file) is harmless; so is a blob uploaded twice (it
is named by its content) or an artifact record sent twice (it replaces itself).

While a task's batches wait, its ``runtime.spool_pending`` says how many and on which host
(the task page shows it); whoever empties the folder clears it. The server cannot be told
while it is away: a process that exits with batches left tries once; otherwise the notice
appears at the first contact after the outage, from the reporter or a deliverer.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from arno.core.errors import ArnoError, Forbidden, ServerUnavailable, Unauthorized

log = logging.getLogger("arno.spool")

LOCK_NAME = ".lock"
REJECTED = "rejected"
PENDING_KEY = "spool_pending"
RETRY_LATER = frozenset({401, 403, 408, 409, 429})
"""4xx answers that say "not now" or "not you", never "never": such a batch stays."""
DELIVERY_INTERVAL = 60.0
_TASK_DIR = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BATCH, BLOB, REQUEST = ".json", ".blob", ".req"
"""The three kinds of spool entry: an event batch, bytes to upload, an artifact record."""
ENTRY_SUFFIXES = (BATCH, BLOB, REQUEST)
_BLOB_NAME = re.compile(r"^\d{20}-\d{6}-([0-9a-f]{64})\.blob$")


class _Session(Protocol):
    def request(self, method: str, path: str, *, json_body: Any = None,
                content: bytes | None = None, retry: bool | None = None,
                headers: dict[str, str] | None = None) -> Any: ...

    def upload_file(self, path: Path) -> tuple[str, int]: ...


# ---- one folder ------------------------------------------------------------------------------
class FolderLock:
    """An exclusive ``flock`` on ``<folder>/.lock``. The kernel drops it when its process ends,
    however it ends, so a dead owner's folder is free."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: bool, create: bool | None = None) -> bool:
        """Take the lock, creating the folder when ``create`` (default: when ``wait``); without
        ``wait``, False at once when another process (or another deliverer) holds it or the
        folder is gone."""
        if self._fd is not None:
            return True
        path = self.dir / LOCK_NAME
        create = wait if create is None else create
        while True:
            if create:
                self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:
                if not wait:
                    return False
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            # the holder before us may have removed the folder meanwhile: only a lock file
            # still in place counts
            try:
                st, mine = os.stat(path), os.fstat(fd)
                current = (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                current = False
            if current:
                self._fd = fd
                return True
            os.close(fd)
            if not wait:
                return False

    def release(self, *, remove_if_empty: bool = False) -> None:
        if self._fd is None:
            return
        try:
            if remove_if_empty and not any(p.name != LOCK_NAME for p in _entries(self.dir)):
                (self.dir / LOCK_NAME).unlink(missing_ok=True)
                try:
                    self.dir.rmdir()
                except OSError:
                    pass  # a file arrived meanwhile: whoever locks next sees it
        finally:
            os.close(self._fd)
            self._fd = None


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


class Spool:
    """One task's waiting entries (event batches, blobs, artifact records), one file each,
    sent in file-name order.

    Several threads of one process write here: the training loop (blobs and artifact
    records, which must never wait) and the reporter's thread (batches). A thread lock guards
    the folder lock and the names; the training loop's writes take the folder lock only when
    it is free at once (:meth:`add_nowait`), the reporter's wait for it (:meth:`add`)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.lock = FolderLock(directory)
        self._mutex = threading.Lock()
        self._seq = 0
        self._last_ns = 0
        self._writing = 0  # entries being written: the folder is not empty

    def files(self) -> list[Path]:
        return sorted(p for p in _entries(self.dir) if p.suffix in ENTRY_SUFFIXES)

    def claim(self) -> None:
        """Hold the folder lock, waiting while another process (a deliverer) holds it. Polls
        instead of blocking in ``flock``: a blocking ``flock`` on a second descriptor would
        wait forever on this process's own lock."""
        while not self._hold():
            time.sleep(0.05)

    def _hold(self) -> bool:
        with self._mutex:
            return self.lock.acquire(wait=False, create=True)

    def release(self) -> None:
        """Let others deliver what is left; the folder goes when it is empty."""
        with self._mutex:
            if self._writing:
                return  # a write is under way: the folder stays ours
            self.lock.release(remove_if_empty=True)

    def add(self, body: bytes, suffix: str = BATCH) -> Path:
        """Write ``body`` as the next entry (durably: fsync'ed), waiting for the folder."""
        self.claim()
        path = self._write(suffix, lambda fh: fh.write(body), fsync=True, hash_=None)
        assert path is not None
        return path

    def add_nowait(self, suffix: str, *, data: bytes | None = None, source: Path | None = None,
                   move: bool = False, hash_: str | None = None) -> Path | None:
        """Write ``data`` (or the file ``source``: moved when ``move``, else copied) as the next
        entry, without fsync and without waiting: None when another process holds the folder
        (the caller keeps the entry and has it written by the reporter's thread)."""
        if not self._hold():
            return None
        if source is not None and move:
            return self._write(suffix, None, fsync=False, hash_=hash_, move_from=source)

        def write(fh: Any) -> None:
            if data is not None:
                fh.write(data)
            else:
                assert source is not None
                with source.open("rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)

        return self._write(suffix, write, fsync=False, hash_=hash_)

    def _write(self, suffix: str, writer: Any, *, fsync: bool, hash_: str | None,
               move_from: Path | None = None) -> Path | None:
        with self._mutex:
            if not self.lock.held and not self.lock.acquire(wait=False, create=True):
                return None
            self._seq += 1
            # names sort in the order entries were made, even if the clock steps back
            self._last_ns = max(self._last_ns + 1, time.time_ns())
            name = f"{self._last_ns:020d}-{self._seq:06d}"
            if hash_ is not None:
                name += f"-{hash_}"
            name += suffix
            self._writing += 1
        try:
            final = self.dir / name
            tmp = self.dir / (name + ".tmp")
            if move_from is not None:
                try:
                    os.replace(move_from, tmp)
                except OSError:  # another file system: copy
                    shutil.copyfile(move_from, tmp)
                    os.unlink(move_from)
                os.chmod(tmp, 0o600)
            else:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    writer(fh)
                    if fsync:
                        fh.flush()
                        os.fsync(fh.fileno())
            os.replace(tmp, final)
            return final
        finally:
            with self._mutex:
                self._writing -= 1

    def __len__(self) -> int:
        return len(self.files())


def blob_hash(path: Path) -> str | None:
    """The content hash a ``.blob`` entry's name announces (None for other entries)."""
    m = _BLOB_NAME.match(path.name)
    return m.group(1) if m else None


def read_request(path: Path, task_id: str) -> tuple[str, str, Any]:
    """(method, path, body) of a ``.req`` entry. Only what the SDK writes is accepted: a PUT of
    an artifact record of the folder's own task (a deliverer sends it with its credentials)."""
    try:
        req = json.loads(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"not a JSON request ({exc})") from exc
    if not isinstance(req, dict):
        raise ValueError("not a request record")
    method, target, body = req.get("method"), req.get("path"), req.get("body")
    prefix = f"tasks/{task_id}/artifacts/"
    if (method != "PUT" or not isinstance(target, str) or not target.startswith(prefix)
            or "/" in target[len(prefix):] or not target[len(prefix):]
            or not isinstance(body, dict)):
        raise ValueError("not an artifact record of this task")
    return method, target, body


def send_entry(session: _Session, task_id: str, path: Path) -> Any:
    """Send one spool entry: upload a blob, PUT an artifact record or POST an event batch.
    Returns the server's answer (a batch's result); raises ``ArnoError`` as the session does,
    ``ValueError`` for an entry no server would take, ``FileNotFoundError`` when it is gone."""
    if path.suffix == BLOB:
        expected = blob_hash(path)
        hash_, _size = session.upload_file(path)
        if expected is not None and hash_ != expected:
            raise ValueError(f"the file's content hashes to {hash_}, its name says {expected}")
        return None
    if path.suffix == REQUEST:
        method, target, body = read_request(path, task_id)
        session.request(method, target, json_body=body, retry=True)
        return None
    body_bytes = path.read_bytes()
    problem, _points = _parse(body_bytes)
    if problem is not None:
        raise ValueError(problem)
    return session.request(
        "POST", f"tasks/{task_id}/events", content=body_bytes,
        headers={"content-type": "application/json"}, retry=True,
    ).json()


# ---- telling the server ----------------------------------------------------------------------
def set_pending(session: _Session, task_id: str, batches: int | None) -> bool:
    """Record on the task that ``batches`` wait on this host (None: nothing waits any more).
    One attempt, errors swallowed: a notice, never a reason to fail."""
    value = None if not batches else {
        "batches": batches, "host": socket.gethostname(),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        session.request("PATCH", f"tasks/{task_id}", json_body={"runtime": {PENDING_KEY: value}},
                        retry=False)
        return True
    except ArnoError as exc:
        log.debug("could not record the spool of task %s on the server: %s", task_id, exc)
        return False


def permanent(exc: ArnoError) -> bool:
    """The server understood the batch and will never take it (bad body, no such task)."""
    return 400 <= exc.status < 500 and exc.status not in RETRY_LATER


# ---- what waits ------------------------------------------------------------------------------
def spool_roots(home: Path, extra: Iterable[Path] = ()) -> list[Path]:
    """Where reporters spool: the SDK's ``$ARNO_HOME/spool``, the agent's, and ``extra``."""
    roots: list[Path] = []
    for root in (home / "spool", home / "agent" / "spool", *extra):
        if root not in roots:
            roots.append(root)
    return roots


def _folders(roots: Iterable[Path]) -> list[Path]:
    return sorted(
        (p for root in roots for p in _entries(root)
         if p.is_dir() and p.name != REJECTED and _TASK_DIR.match(p.name)),
        key=lambda p: (min((f.name for f in _batch_files(p)), default=""), str(p)),
    )


_ENTRY_ENDINGS = (*ENTRY_SUFFIXES, *(s + ".tmp" for s in ENTRY_SUFFIXES))


def _batch_files(folder: Path) -> list[Path]:
    """Complete entries and unfinished writes (``.tmp``: the process ended mid-write)."""
    return sorted(p for p in _entries(folder) if p.name.endswith(_ENTRY_ENDINGS))


def _parse(body: bytes) -> tuple[str | None, int]:
    """(problem, points): a problem when the file is not a batch the server could take."""
    try:
        import pydantic_core

        batch = pydantic_core.from_json(body, allow_inf_nan=True)
    except ValueError as exc:
        return f"not a JSON batch ({exc})", 0
    if not isinstance(batch, dict) or not isinstance(batch.get("batch_id"), str):
        return "not a report batch (no batch_id)", 0
    scalars = batch.get("scalars")
    points = 0
    if isinstance(scalars, list):
        for s in scalars:
            if isinstance(s, dict) and isinstance(s.get("iterations"), list):
                points += len(s["iterations"])
    return None, points


@dataclass
class Waiting:
    """One spool folder: a task's batches waiting on this machine."""

    task_id: str
    path: str
    batches: int
    points: int
    bytes: int
    oldest: str | None
    in_use: bool
    """A live process owns the folder (it sends the batches itself)."""
    rejected: int
    uploads: int = 0
    """Debug-sample and artifact files (and artifact records) waiting beside the batches."""


def list_waiting(roots: Iterable[Path]) -> list[Waiting]:
    """What waits under ``roots``, oldest first, without contacting the server."""
    roots = list(roots)
    out: list[Waiting] = []
    seen: set[tuple[Path, str]] = set()
    for folder in _folders(roots):
        entries = [p for p in _batch_files(folder) if p.suffix in ENTRY_SUFFIXES]
        files = [p for p in entries if p.suffix == BATCH]
        lock = FolderLock(folder)
        free = lock.acquire(wait=False)
        lock.release()
        points = size = 0
        for path in entries:
            try:
                if path.suffix != BATCH:
                    size += path.stat().st_size
                    continue
                body = path.read_bytes()
            except FileNotFoundError:
                continue  # sent meanwhile
            size += len(body)
            points += _parse(body)[1]
        oldest = None
        if entries:
            ns = int(entries[0].name.split("-", 1)[0]) if entries[0].name[:1].isdigit() else 0
            oldest = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9)) if ns else None
        seen.add((folder.parent, folder.name))
        out.append(Waiting(folder.name, str(folder), len(files), points, size, oldest,
                           not free, _rejected_count(folder.parent / REJECTED / folder.name),
                           len(entries) - len(files)))
    for root in roots:  # tasks with nothing waiting but rejected batches to look at
        for rej in _entries(root / REJECTED):
            if (root, rej.name) not in seen and rej.is_dir() and _rejected_count(rej):
                out.append(Waiting(rej.name, str(root / rej.name), 0, 0, 0, None, False,
                                   _rejected_count(rej)))
    return out


def _rejected_count(folder: Path) -> int:
    return sum(1 for p in _entries(folder) if not p.name.endswith(".reason"))


# ---- delivery --------------------------------------------------------------------------------
@dataclass
class Delivery:
    """What a :func:`deliver_orphans` call did."""

    batches: int = 0
    """Batches the server now holds (``duplicates`` of them it had already)."""
    points: int = 0
    duplicates: int = 0
    rejected: int = 0
    """Entries moved aside to ``rejected/`` (refused for good, or unreadable)."""
    uploads: int = 0
    """Blobs uploaded and artifact records sent."""
    tasks: list[str] = field(default_factory=list)
    """Tasks whose spool folder was emptied."""
    left: dict[str, str] = field(default_factory=dict)
    """Task id -> why its batches still wait (not ours, or the server said "later")."""
    server_away: str | None = None
    """Why delivery stopped: the server cannot be reached (or refused the credentials)."""


def deliver_orphans(session: _Session, roots: Iterable[Path], *,
                    stop: threading.Event | None = None) -> Delivery:
    """Send every spool folder under ``roots`` that no live process owns, each in its order,
    with ``session``'s credentials. Stops at the first sign the server is away."""
    result = Delivery()
    for folder in _folders(roots):
        if result.server_away or (stop is not None and stop.is_set()):
            break
        lock = FolderLock(folder)
        if not lock.acquire(wait=False):
            continue  # a live reporter owns it, or another deliverer is at it
        try:
            _deliver_folder(session, folder, result, stop)
        finally:
            lock.release(remove_if_empty=True)
    return result


def _deliver_folder(session: _Session, folder: Path, result: Delivery,
                    stop: threading.Event | None) -> None:
    task_id = folder.name
    files = _batch_files(folder)
    if not files:
        return
    sent = 0
    for i, path in enumerate(files):
        if stop is not None and stop.is_set():
            return
        if path.name.endswith(".tmp"):
            _move_aside(path, "an unfinished write: the process ended while writing it")
            result.rejected += 1
            continue
        try:
            answer = send_entry(session, task_id, path)
        except FileNotFoundError:
            continue
        except ValueError as exc:
            _move_aside(path, str(exc))
            result.rejected += 1
            continue
        except ServerUnavailable as exc:
            result.server_away = str(exc)
            return
        except Unauthorized as exc:
            result.server_away = f"the server refused the credentials: {exc.message}"
            return
        except Forbidden as exc:
            result.left[task_id] = f"not allowed to report into this task ({exc.message}); " \
                                   "left for its owner"
            return
        except ArnoError as exc:
            if permanent(exc):
                _move_aside(path, f"refused by the server ({exc.code}): {exc.message}")
                result.rejected += 1
                continue
            result.left[task_id] = f"the server answered {exc.code}: {exc.message}"
            return
        path.unlink(missing_ok=True)
        sent += 1
        if path.suffix != BATCH:
            result.uploads += 1
        else:
            result.batches += 1
            result.points += int(answer.get("points") or 0) if isinstance(answer, dict) else 0
            if isinstance(answer, dict) and answer.get("duplicate"):
                result.duplicates += 1
        if sent == 1 and i + 1 < len(files):
            set_pending(session, task_id, len(files) - i - 1)
    if not _batch_files(folder):
        result.tasks.append(task_id)
        set_pending(session, task_id, None)  # an earlier process may have said it waits


def _move_aside(path: Path, reason: str) -> None:
    dest = path.parent.parent / REJECTED / path.parent.name
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = path.name.removesuffix(".tmp")
    target = dest / name
    os.replace(path, target)
    fd = os.open(dest / (name + ".reason"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(reason + "\n")
    log.warning("arno: a spooled batch of task %s was moved to %s: %s",
                path.parent.name, target, reason)


# ---- callers ---------------------------------------------------------------------------------
def deliver_in_background(session: _Session, home: Path) -> threading.Thread | None:
    """Deliver orphans under ``home`` on a daemon thread (None when nothing waits), so a
    script's start never waits on it."""
    roots = spool_roots(home)
    if not _folders(roots):
        return None

    def run() -> None:
        try:
            done = deliver_orphans(session, roots)
        except Exception:  # noqa: BLE001 - a helper thread never disturbs the script
            log.debug("delivering spooled batches failed", exc_info=True)
            return
        if done.batches or done.rejected:
            log.info("arno: sent %d spooled batch(es) (%d points) left by ended processes",
                     done.batches, done.points)

    thread = threading.Thread(target=run, name="arno-spool-delivery", daemon=True)
    thread.start()
    return thread


def keep_delivering(session: _Session, home: Path, stop: threading.Event, *,
                    extra_roots: Iterable[Path] = (),
                    interval: float = DELIVERY_INTERVAL) -> threading.Thread:
    """A daemon thread delivering orphans now and every ``interval`` seconds until ``stop``
    (for agents: a machine's processes that ended during an outage are sent from here)."""
    roots = spool_roots(home, extra_roots)

    def run() -> None:
        while not stop.is_set():
            try:
                done = deliver_orphans(session, roots, stop=stop)
                if done.batches or done.rejected:
                    log.info("sent %d spooled batch(es) (%d points, %d moved aside) left by "
                             "ended processes", done.batches, done.points, done.rejected)
            except Exception:  # noqa: BLE001 - the agent goes on without it
                if not stop.is_set():  # (stopping, its session may be closed under us)
                    log.exception("delivering spooled batches failed")
            stop.wait(interval)

    thread = threading.Thread(target=run, name="arno-spool-delivery", daemon=True)
    thread.start()
    return thread

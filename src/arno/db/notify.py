"""Wake-ups that cross server processes: PostgreSQL ``LISTEN``/``NOTIFY``.

Several server replicas share one PostgreSQL database. When one of them queues a task, the
agents long-polling another replica must hear of it at once. ``notify`` (called inside the
write transaction) sends a notification that PostgreSQL delivers to every listener when the
transaction commits, and not at all if it rolls back; a ``Listener`` thread per process holds
one connection in ``LISTEN`` and calls back on each notification. On SQLite there is only
one server process, and callers wake their own waiters directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger("arno.db")

CHANNEL = "arno_queues"


def notify(s: Session, payload: str = "") -> None:
    """Tell every listening process, when ``s`` commits (PostgreSQL only; no-op on SQLite)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload[:7000]})


class Listener:
    """A daemon thread that calls ``callback`` for each notification on ``CHANNEL``.

    It reconnects with backoff when the database goes away, and calls ``callback`` once after
    each reconnection, since notifications sent while it was away are lost.
    """

    def __init__(self, dsn: str, callback: Callable[[], None]) -> None:
        self.dsn = dsn
        self.callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arno-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    self.callback()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.callback()
            except Exception as exc:  # noqa: BLE001 - keep listening once the database is back
                if self._stop.is_set():
                    return
                log.warning("queue notifications lost the database (%s); retrying", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL by URL.

On SQLite, writers open their transaction with ``BEGIN IMMEDIATE`` so two writers queue on
the lock instead of failing on upgrade, while readers use plain ``BEGIN`` and never wait on a
writer (WAL). On PostgreSQL both go through one pool.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import re2
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> re2._Regexp:
    """A pattern compiled by RE2, whose matching time is linear in the text: no pattern can
    make a match backtrack for ever. Raises ``re2.error`` for a pattern RE2 cannot take."""
    return re2.compile(pattern, _RE2_OPTIONS)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is the caller's error, not a server log line


def _regexp(pattern: str, value: str | None) -> bool | None:
    """SQLite's ``REGEXP`` (``regexp_match``), in place of SQLAlchemy's default on Python's
    backtracking ``re``, which a pattern like ``^(a+)+$`` keeps busy for hours while it holds
    the GIL (the whole server freezes)."""
    if value is None:
        return None
    return compile_regex(pattern).search(value) is not None


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8, max_overflow=16
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        dbapi_conn.create_function("regexp", 2, _regexp, deterministic=True)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


IDLE_PING_SECONDS = 10.0
"""A pooled server connection idle longer than this is pinged before use."""


def _server_engine(url: str) -> Engine:
    """A pooled engine whose connections are checked after they sat idle, not on every use:
    a ping per checkout was a round trip per request on the busiest paths, while a
    connection the database dropped (restart, idle timeout) is only ever an idle one."""
    engine = create_engine(url, pool_size=10, max_overflow=20)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            dbapi_conn.rollback()
        except Exception as exc:  # the pool then opens a fresh connection
            raise DisconnectionError(f"stale database connection: {exc}") from exc

    return engine


class Database:
    """The process's engines and session factories."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            self.engine = _server_engine(self.url)
            self.read_engine = self.engine
        self._writer = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._reader = sessionmaker(bind=self.read_engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue for it here and are
        # woken as soon as it is free; waiting in SQLite's busy handler instead sleeps in steps
        # of up to 100 ms, which cut concurrent small writes to a few dozen a second.
        self._write_lock = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that commits on success and rolls back on any error."""
        if self._write_lock is None:
            with self._writer.begin() as session:
                yield session
            return
        with self._write_lock, self._writer.begin() as session:
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection where each statement commits on its own, for work that is one atomic
        statement (no BEGIN and COMMIT round trips). Not for SQLite, whose writers must hold
        the write lock."""
        if self.is_sqlite:
            raise RuntimeError("autocommit connections are for server databases")
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

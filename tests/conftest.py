"""Shared fixtures: a real Arno server on 127.0.0.1 with a free port, on SQLite and (when
``ARNO_TEST_POSTGRES_URL`` is set) on PostgreSQL, each in a database of its own."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from arno.core.settings import Settings
from arno.server.app import create_app
from arno.services.container import Services

POSTGRES_URL = os.environ.get("ARNO_TEST_POSTGRES_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    home: Path
    services: Services
    admin_key: str
    admin_secret: str
    backend: str

    def client(self, key: str | None = None, secret: str | None = None) -> httpx.Client:
        auth = (key or self.admin_key, secret or self.admin_secret)
        return httpx.Client(base_url=self.url, auth=auth, timeout=60)

    def user(self, name: str, role: str = "user") -> tuple[str, str]:
        """A new user with an API key; returns (access_key, secret)."""
        self.services.auth.create_user(name, password=f"{name}-password", role=role)
        key = self.services.auth.create_key(name)
        return key.access_key, key.secret_key


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("ARNO_TEST_POSTGRES_URL is not set: PostgreSQL tests need a server")
    return POSTGRES_URL


def _pg_url(base: str, dbname: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{dbname}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'arno.db'}"
        return
    base = request.getfixturevalue("postgres_admin_url")
    name = f"arno_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(base, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def start_server(home: Path, database_url: str | None, backend: str, **settings: object
                 ) -> Iterator[LiveServer]:
    st = Settings(home=home, database_url=database_url, **settings)  # type: ignore[arg-type]
    services = Services(st)
    services.auth.create_user("admin", password="admin-password", role="admin")
    key = services.auth.create_key("admin")
    app = create_app(st, services)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", home, services, key.access_key,
                         key.secret_key, backend)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server, once on SQLite and once on PostgreSQL."""
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    yield from start_server(tmp_path_factory.mktemp("server-home"), database_url, backend)


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on SQLite only, for tests whose subject is not the database."""
    home = tmp_path_factory.mktemp("server-home")
    yield from start_server(home, None, "sqlite")


@pytest.fixture
def sdk(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[LiveServer]:
    """Point the SDK at a live server (``server`` if the test uses it, else ``sqlite_server``)
    through the environment, as a user's script would find it."""
    live: LiveServer = (request.getfixturevalue("server") if "server" in request.fixturenames
                        else request.getfixturevalue("sqlite_server"))
    from arno.sdk import Task, set_session

    client_home = tmp_path / "client-home"
    monkeypatch.setenv("ARNO_HOME", str(client_home))
    monkeypatch.setenv("ARNO_API_HOST", live.url)
    monkeypatch.setenv("ARNO_API_KEY", live.admin_key)
    monkeypatch.setenv("ARNO_API_SECRET", live.admin_secret)
    monkeypatch.delenv("ARNO_OFFLINE", raising=False)
    monkeypatch.delenv("ARNO_TASK_ID", raising=False)
    set_session(None)
    # arguments another test's parser (or pytest's) parsed in this process are not this test's
    from arno.sdk import _argparse, _task

    monkeypatch.setattr(_argparse, "_last_args", None)
    monkeypatch.setattr(_task, "_early_parse_seen", False)
    yield live
    current = Task.current_task()
    if current is not None:
        current.close()
    set_session(None)

"""The schema: Alembic migrations and the models agree, ``HEAD`` is the newest revision, the
fast start-up path builds the same schema, an older database is brought up to date keeping
its rows, and a server restarted on the same SQLite home finds its data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column, create_engine, inspect, select, table, text
from sqlalchemy.orm import Session
from tests.conftest import free_port

from arno.blobstore import hash_bytes
from arno.core.config_file import read_config_file
from arno.core.ids import utcnow
from arno.db.engine import Database
from arno.db.migrate import HEAD, alembic_config, current_revision, upgrade
from arno.db.models import Base, UserRow

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
def fresh_db(database_url: str, request: pytest.FixtureRequest, tmp_path: Path
             ) -> Iterator[Callable[[], Database]]:
    """Make empty databases on the backend of ``database_url``; all dropped afterwards."""
    made: list[Database] = []
    pg_names: list[str] = []
    admin = None
    if not database_url.startswith("sqlite"):
        base = request.getfixturevalue("postgres_admin_url")
        admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"),
                              isolation_level="AUTOCOMMIT")

    def make() -> Database:
        if admin is None:
            url = f"sqlite:///{tmp_path / f'fresh-{len(made)}.db'}"
        else:
            name = f"arno_mig_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            pg_names.append(name)
            url = database_url.rsplit("/", 1)[0] + f"/{name}"
        db = Database(url)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()
    if admin is not None:
        with admin.connect() as conn:
            for name in pg_names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Indexes with a descending column: SQLite's reflection drops the direction, so Alembic can
# not compare them there; their SQL is checked instead (PostgreSQL compares them normally).
DESCENDING_INDEXES = {"ix_queue_entries_order": "priority DESC"}


def _differences(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"

        def include(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
            return not (sqlite and type_ == "index" and name in DESCENDING_INDEXES)

        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include})
        found = list(compare_metadata(ctx, Base.metadata))
        if sqlite:
            for name, part in DESCENDING_INDEXES.items():
                sql = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
                ).scalar()
                if part not in (sql or ""):
                    found.append(("index", name, sql))
        return found


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _structure(db: Database) -> dict[str, Any]:
    """What a reader of the database sees of every table: columns, keys, indexes."""
    out: dict[str, Any] = {}
    with db.engine.connect() as conn:
        insp = inspect(conn)
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"])
                            for c in insp.get_columns(table)],
                "pk": insp.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                               tuple(f["referred_columns"]),
                               (f.get("options") or {}).get("ondelete"))
                              for f in insp.get_foreign_keys(table)),
                "indexes": sorted((tuple(i["column_names"]), bool(i["unique"]))
                                  for i in insp.get_indexes(table)),
                "unique": sorted(tuple(u["column_names"])
                                 for u in insp.get_unique_constraints(table)),
            }
    return out


def test_head_is_the_newest_revision():
    script = ScriptDirectory.from_config(alembic_config(None))
    assert script.get_heads() == [HEAD]
    chain = [rev.revision for rev in script.walk_revisions()]
    assert chain[0] == HEAD
    assert len(chain) == len(set(chain))
    # one file per revision, named after it
    files = sorted(p.name for p in (Path(script.dir) / "versions").glob("*.py"))
    assert sorted(f.split("_", 1)[0] for f in files) == sorted(chain)


def test_migrations_match_the_models(fresh_db):
    db = fresh_db()
    upgrade(db.engine, use_alembic=True)
    assert current_revision(db.engine) == HEAD
    assert _differences(db) == []
    assert _tables(db) == MODEL_TABLES | {"alembic_version"}


def test_fast_path_builds_the_same_schema(fresh_db):
    migrated, fast = fresh_db(), fresh_db()
    upgrade(migrated.engine, use_alembic=True)
    upgrade(fast.engine)
    assert current_revision(fast.engine) == HEAD
    assert _differences(fast) == []
    assert _structure(fast) == _structure(migrated)
    # and it is a database Alembic considers current: upgrading again changes nothing
    before = _structure(fast)
    upgrade(fast.engine, use_alembic=True)
    upgrade(fast.engine)
    assert current_revision(fast.engine) == HEAD
    assert _structure(fast) == before


def test_older_database_is_upgraded_keeping_its_rows(fresh_db):
    script = ScriptDirectory.from_config(alembic_config(None))
    base = [rev.revision for rev in script.walk_revisions()][-1]
    db = fresh_db()
    command.upgrade(alembic_config(db.engine), base)
    assert current_revision(db.engine) == base
    with db.engine.begin() as conn:
        # the users table as the first revision made it (later columns have defaults)
        users = table("users", column("id"), column("username"), column("role"),
                      column("disabled"), column("created_at"))
        conn.execute(users.insert().values(
            id=uuid.uuid4().hex, username="from-before", role="user", disabled=False,
            created_at=utcnow()))
    upgrade(db.engine)  # what start-up does
    assert current_revision(db.engine) == HEAD
    assert _differences(db) == []
    with Session(db.engine) as s:
        assert s.scalar(select(UserRow.username).where(UserRow.username == "from-before"))


# ---- a real restart ------------------------------------------------------------------------


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(home), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "arno.cli.main", "server", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read().decode()}")  # type: ignore
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not become healthy")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _client(home: Path, port: int) -> httpx.Client:
    api = read_config_file(home / "config.toml")["api"]
    return httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1",
                        auth=(api["access_key"], api["secret_key"]), timeout=30)


def _report(c: httpx.Client, task_id: str, start: int, n: int, line: str) -> None:
    resp = c.post(f"/tasks/{task_id}/events", json={
        "batch_id": uuid.uuid4().hex,
        "scalars": [{"metric": "loss", "variant": "train", "iterations": list(range(start, n)),
                     "values": [1 / (i + 1) for i in range(start, n)],
                     "timestamps": [1.0] * (n - start)}],
        "console": [{"text": line, "timestamp": 1.0}]})
    assert resp.status_code == 200, resp.text


def _check(c: httpx.Client, task_id: str, points: int, lines: list[str]) -> None:
    detail = c.get(f"/tasks/{task_id}").json()
    assert detail["name"] == "survivor"
    assert detail["status"] == "in_progress"
    assert {(p["section"], p["name"]): p["value"] for p in detail["hyperparams"]} == {
        ("General", "lr"): "0.01"}
    (series,) = c.get(f"/tasks/{task_id}/scalars").json()
    assert series["x"] == list(range(points))
    assert [ln["text"] for ln in c.get(f"/tasks/{task_id}/console").json()] == lines
    art = c.get(f"/tasks/{task_id}/artifacts/model").json()
    assert c.get(f"/blobs/{art['hash']}").content == b"weights" * 1000


def test_restarted_server_keeps_its_data(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    proc = _start(home, port)
    try:
        with _client(home, port) as c:
            task = c.post("/tasks", json={
                "project": "restart", "name": "survivor",
                "hyperparams": [{"section": "General", "name": "lr", "value": "0.01"}]}).json()
            task_id = task["id"]
            assert c.post(f"/tasks/{task_id}/status",
                          json={"status": "in_progress"}).status_code == 200
            _report(c, task_id, 0, 500, "first run")
            data = b"weights" * 1000
            assert c.put(f"/blobs/{hash_bytes(data)}", content=data).status_code == 200
            assert c.put(f"/tasks/{task_id}/artifacts/model",
                         json={"hash": hash_bytes(data)}).status_code == 200
    finally:
        _stop(proc, signal.SIGINT)  # Ctrl-C
    assert proc.returncode == 0

    proc = _start(home, port)
    try:
        with _client(home, port) as c:  # the same credentials still work
            _check(c, task_id, 500, ["first run"])
            _report(c, task_id, 500, 800, "second run")
            _check(c, task_id, 800, ["first run", "second run"])
            users = c.get("/users").json()
            assert [u["username"] for u in users] == ["admin"]  # no second admin on restart
    finally:
        _stop(proc, signal.SIGINT)

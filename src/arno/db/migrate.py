"""Schema management with Alembic migrations shipped inside the package.

Start-up stays fast: a database already at ``HEAD`` is recognised with one query, and a new
empty database gets the current schema directly (then is stamped at ``HEAD``), so Alembic is
imported only when an older database really needs migrating. A test checks that the
migrations and the models describe the same schema, and that ``HEAD`` is the newest revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0007"
"""The newest revision in ``migrations/versions``."""


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def upgrade(engine: Engine, *, use_alembic: bool = False) -> None:
    """Bring the schema to ``HEAD``; a no-op when it already is."""
    if not use_alembic:
        if current_revision(engine) == HEAD:
            return
        if _is_empty(engine):
            from arno.db.models import Base

            with engine.begin() as conn:
                Base.metadata.create_all(conn)
                conn.execute(text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                ))
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": HEAD})
            return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")

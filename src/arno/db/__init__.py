"""Persistence: SQLAlchemy rows, engine and sessions, Alembic migrations."""

"""scalar blocks: per-series summaries for fast charts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scalar_blocks',
    sa.Column('series_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('block', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_iteration', sa.BigInteger(), nullable=False),
    sa.Column('first_value', sa.Float(), nullable=True),
    sa.Column('first_timestamp', sa.Float(), nullable=False),
    sa.Column('last_iteration', sa.BigInteger(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=True),
    sa.Column('last_timestamp', sa.Float(), nullable=False),
    sa.Column('min_iteration', sa.BigInteger(), nullable=True),
    sa.Column('min_value', sa.Float(), nullable=True),
    sa.Column('min_timestamp', sa.Float(), nullable=True),
    sa.Column('max_iteration', sa.BigInteger(), nullable=True),
    sa.Column('max_value', sa.Float(), nullable=True),
    sa.Column('max_timestamp', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['series_id'], ['series.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('series_id', 'level', 'block'),
    sqlite_with_rowid=False
    )
    # summarise the series stored before this revision
    from arno.db.scalar_blocks import rebuild_all

    rebuild_all(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_table('scalar_blocks')

"""queue entries indexed in hand-out order (priority descending, then arrival)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('queue_entries') as batch:
        batch.drop_index('ix_queue_entries_order')
        batch.create_index('ix_queue_entries_order',
                           ['queue_id', sa.text('priority DESC'), 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('queue_entries') as batch:
        batch.drop_index('ix_queue_entries_order')
        batch.create_index('ix_queue_entries_order', ['queue_id', 'priority', 'id'],
                           unique=False)

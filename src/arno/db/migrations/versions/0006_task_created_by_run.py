"""the task run that created a task (a run's credential may change only its own task and what
it created)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('created_by_task_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('created_by_task_id')

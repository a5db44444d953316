"""run credentials (API keys scoped to one task run) and revocable browser sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('task_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('worker_id', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_api_keys_task_id', ['task_id'], unique=False)
        batch.create_foreign_key('fk_api_keys_task_id', 'tasks', ['task_id'], ['id'],
                                 ondelete='CASCADE')
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('session_version', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('session_version')
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_constraint('fk_api_keys_task_id', type_='foreignkey')
        batch.drop_index('ix_api_keys_task_id')
        batch.drop_column('expires_at')
        batch.drop_column('worker_id')
        batch.drop_column('task_id')

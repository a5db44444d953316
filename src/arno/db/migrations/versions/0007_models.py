"""the model registry: models, their tags, the tasks that use them, the packs their weights need

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 03:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('models',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('framework', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('created_by_task_id', sa.String(length=32), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('system_tags', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('design', sa.Text(), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('uri', sa.Text(), nullable=False),
    sa.Column('weights_manifest', sa.String(length=64), nullable=True),
    sa.Column('weights_size', sa.BigInteger(), nullable=False),
    sa.Column('weights_files', sa.Integer(), nullable=False),
    sa.Column('weights_hash', sa.String(length=64), nullable=True),
    sa.Column('package', sa.Boolean(), nullable=False),
    sa.Column('iteration', sa.BigInteger(), nullable=True),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name='fk_models_task_id',
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_models_project_created', 'models', ['project_id', 'created_at'],
                    unique=False)
    op.create_index('ix_models_task_id', 'models', ['task_id'], unique=False)
    op.create_index('ix_models_name', 'models', ['name'], unique=False)
    op.create_index('ix_models_created_at', 'models', ['created_at'], unique=False)
    op.create_table('model_tags',
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('tag', sa.String(length=256), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'tag')
    )
    op.create_index('ix_model_tags_tag', 'model_tags', ['tag', 'model_id'], unique=False)
    op.create_table('model_uses',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'name')
    )
    op.create_index('ix_model_uses_model_id', 'model_uses', ['model_id'], unique=False)
    op.create_table('model_pack_refs',
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('pack_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'pack_hash')
    )
    op.create_index('ix_model_pack_refs_pack_hash', 'model_pack_refs', ['pack_hash'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_model_pack_refs_pack_hash', table_name='model_pack_refs')
    op.drop_table('model_pack_refs')
    op.drop_index('ix_model_uses_model_id', table_name='model_uses')
    op.drop_table('model_uses')
    op.drop_index('ix_model_tags_tag', table_name='model_tags')
    op.drop_table('model_tags')
    op.drop_index('ix_models_created_at', table_name='models')
    op.drop_index('ix_models_name', table_name='models')
    op.drop_index('ix_models_task_id', table_name='models')
    op.drop_index('ix_models_project_created', table_name='models')
    op.drop_table('models')

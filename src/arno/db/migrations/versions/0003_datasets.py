"""datasets: versions as tasks, content-addressed pieces in packs, pack references

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dataset_packs',
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('piece_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hash')
    )
    op.create_index(op.f('ix_dataset_packs_created_at'), 'dataset_packs', ['created_at'], unique=False)
    op.create_table('dataset_pieces',
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('pack_hash', sa.String(length=64), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['pack_hash'], ['dataset_packs.hash'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hash'),
    sqlite_with_rowid=False
    )
    op.create_index(op.f('ix_dataset_pieces_pack_hash'), 'dataset_pieces', ['pack_hash'], unique=False)
    op.create_table('datasets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'name', name='uq_datasets_project_name')
    )
    op.create_index(op.f('ix_datasets_project_id'), 'datasets', ['project_id'], unique=False)
    op.create_table('dataset_versions',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('dataset_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('manifest_hash', sa.String(length=64), nullable=True),
    sa.Column('file_count', sa.BigInteger(), nullable=False),
    sa.Column('total_size', sa.BigInteger(), nullable=False),
    sa.Column('added_files', sa.BigInteger(), nullable=False),
    sa.Column('modified_files', sa.BigInteger(), nullable=False),
    sa.Column('removed_files', sa.BigInteger(), nullable=False),
    sa.Column('added_bytes', sa.BigInteger(), nullable=False),
    sa.Column('modified_bytes', sa.BigInteger(), nullable=False),
    sa.Column('removed_bytes', sa.BigInteger(), nullable=False),
    sa.Column('new_stored_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finalized_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id'),
    sa.UniqueConstraint('dataset_id', 'version', name='uq_dataset_versions_version')
    )
    op.create_index(op.f('ix_dataset_versions_dataset_id'), 'dataset_versions', ['dataset_id'], unique=False)
    op.create_index(op.f('ix_dataset_versions_manifest_hash'), 'dataset_versions', ['manifest_hash'], unique=False)
    op.create_table('dataset_pack_refs',
    sa.Column('version_id', sa.String(length=32), nullable=False),
    sa.Column('pack_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_versions.task_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'pack_hash'),
    sqlite_with_rowid=False
    )
    op.create_index(op.f('ix_dataset_pack_refs_pack_hash'), 'dataset_pack_refs', ['pack_hash'], unique=False)
    op.create_table('dataset_parents',
    sa.Column('version_id', sa.String(length=32), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['dataset_versions.task_id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_versions.task_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'parent_id')
    )
    op.create_index(op.f('ix_dataset_parents_parent_id'), 'dataset_parents', ['parent_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dataset_parents_parent_id'), table_name='dataset_parents')
    op.drop_table('dataset_parents')
    op.drop_index(op.f('ix_dataset_pack_refs_pack_hash'), table_name='dataset_pack_refs')
    op.drop_table('dataset_pack_refs')
    op.drop_index(op.f('ix_dataset_versions_manifest_hash'), table_name='dataset_versions')
    op.drop_index(op.f('ix_dataset_versions_dataset_id'), table_name='dataset_versions')
    op.drop_table('dataset_versions')
    op.drop_index(op.f('ix_datasets_project_id'), table_name='datasets')
    op.drop_table('datasets')
    op.drop_index(op.f('ix_dataset_pieces_pack_hash'), table_name='dataset_pieces')
    op.drop_table('dataset_pieces')
    op.drop_index(op.f('ix_dataset_packs_created_at'), table_name='dataset_packs')
    op.drop_table('dataset_packs')

"""hardening: shared throttle counters, server-side inbox sessions, detected file types

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('throttle_counters',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_throttle_counters')),
    )
    op.create_index(op.f('ix_throttle_counters_updated_at'), 'throttle_counters',
                    ['updated_at'], unique=False)
    op.create_table('inbox_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('coordinator_id', ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['coordinator_id'], ['coordinators.id'],
                            name=op.f('fk_inbox_sessions_coordinator_id_coordinators'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_inbox_sessions')),
    )
    op.create_index('ix_inbox_sessions_coordinator', 'inbox_sessions',
                    ['coordinator_id', 'ended_at'], unique=False)
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('detected_type', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.drop_column('detected_type')
    op.drop_index('ix_inbox_sessions_coordinator', table_name='inbox_sessions')
    op.drop_table('inbox_sessions')
    op.drop_index(op.f('ix_throttle_counters_updated_at'), table_name='throttle_counters')
    op.drop_table('throttle_counters')

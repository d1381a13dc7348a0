"""upload sessions: resumable uploads and chat files, with their encrypted parts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('upload_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('source_ref', sa.String(length=128), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('relative_path', sa.String(length=512), nullable=True),
    sa.Column('item', sa.String(length=32), nullable=True),
    sa.Column('filetype', sa.String(length=128), nullable=True),
    sa.Column('batch', sa.String(length=32), nullable=True),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('parts', JSON, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('outcome', JSON, nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                            name=op.f('fk_upload_sessions_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload_sessions')),
    sa.UniqueConstraint('source_ref', name='uq_upload_sessions_source_ref')
    )
    op.create_index('ix_upload_sessions_case_status', 'upload_sessions', ['case_id', 'status'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_upload_sessions_case_status', table_name='upload_sessions')
    op.drop_table('upload_sessions')

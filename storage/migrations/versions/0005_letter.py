"""records-request letters

Revision ID: 0005_letter
Revises: 0004
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_letter'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('records_letters',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('hospital', sa.String(length=200), nullable=False),
    sa.Column('legal_basis', sa.String(length=8), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('expires_at', WHEN, nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                            name=op.f('fk_records_letters_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records_letters')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_records_letters_token_hash')),
    )
    op.create_index(op.f('ix_records_letters_case_id'), 'records_letters', ['case_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_records_letters_case_id'), table_name='records_letters')
    op.drop_table('records_letters')

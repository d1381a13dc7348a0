"""case journey: quotes, written opinions and their links, doctor e-mails, saved replies

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{target}.id'],
                                   name=op.f(f'fk_{table}_{column}_{target}'), ondelete=ondelete)


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('physician_email', sa.String(length=255), nullable=True))
    op.create_table('quotes',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('within_range', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('message_id', ID, nullable=True),
    sa.Column('answer', sa.String(length=12), nullable=True),
    sa.Column('answered_at', WHEN, nullable=True),
    sa.Column('superseded_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('quotes', 'case_id', 'cases', 'CASCADE'),
    _fk('quotes', 'coordinator_id', 'coordinators'),
    _fk('quotes', 'message_id', 'messages', 'SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes')),
    )
    op.create_index(op.f('ix_quotes_case_id'), 'quotes', ['case_id'], unique=False)
    op.create_table('opinions',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('storage_key', sa.String(length=128), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('replaced_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('opinions', 'case_id', 'cases', 'CASCADE'),
    _fk('opinions', 'coordinator_id', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinions')),
    )
    op.create_index(op.f('ix_opinions_case_id'), 'opinions', ['case_id'], unique=False)
    op.create_table('opinion_links',
    sa.Column('id', ID, nullable=False),
    sa.Column('opinion_id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('audience', sa.String(length=8), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', WHEN, nullable=False),
    sa.Column('revoked_at', WHEN, nullable=True),
    sa.Column('first_opened_at', WHEN, nullable=True),
    sa.Column('last_opened_at', WHEN, nullable=True),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('opinion_links', 'opinion_id', 'opinions', 'CASCADE'),
    _fk('opinion_links', 'case_id', 'cases', 'CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_opinion_links_token_hash')),
    )
    op.create_index(op.f('ix_opinion_links_opinion_id'), 'opinion_links', ['opinion_id'],
                    unique=False)
    op.create_index(op.f('ix_opinion_links_case_id'), 'opinion_links', ['case_id'], unique=False)
    op.create_table('emails',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('to_address', sa.String(length=255), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', WHEN, nullable=False),
    sa.Column('claimed_at', WHEN, nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('sent_at', WHEN, nullable=True),
    _fk('emails', 'case_id', 'cases', 'CASCADE'),
    _fk('emails', 'coordinator_id', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emails')),
    )
    op.create_index(op.f('ix_emails_case_id'), 'emails', ['case_id'], unique=False)
    op.create_index('ix_emails_due', 'emails', ['status', 'next_attempt_at'], unique=False)
    saved = op.create_table('saved_replies',
    sa.Column('id', ID, nullable=False),
    sa.Column('texts', JSON, nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('retired_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('updated_at', WHEN, nullable=False),
    _fk('saved_replies', 'created_by', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_replies')),
    )
    _seed_saved_replies(saved)


def _seed_saved_replies(table: sa.Table) -> None:
    """The starting set: the common moments of a case, in the six languages."""
    from datetime import UTC, datetime

    now = datetime(2026, 12, 6, tzinfo=UTC)
    op.bulk_insert(table, [{'texts': texts, 'created_by': None, 'retired_at': None,
                            'created_at': now, 'updated_at': now} for texts in STARTER_SET])


def downgrade() -> None:
    op.drop_table('saved_replies')
    op.drop_index('ix_emails_due', table_name='emails')
    op.drop_index(op.f('ix_emails_case_id'), table_name='emails')
    op.drop_table('emails')
    op.drop_index(op.f('ix_opinion_links_case_id'), table_name='opinion_links')
    op.drop_index(op.f('ix_opinion_links_opinion_id'), table_name='opinion_links')
    op.drop_table('opinion_links')
    op.drop_index(op.f('ix_opinions_case_id'), table_name='opinions')
    op.drop_table('opinions')
    op.drop_index(op.f('ix_quotes_case_id'), table_name='quotes')
    op.drop_table('quotes')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('physician_email')


STARTER_SET: list[dict[str, dict[str, str]]] = []

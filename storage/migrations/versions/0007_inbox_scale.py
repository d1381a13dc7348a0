"""bigger numbers: the contacts' last activity, and the indexes the inbox list and the
timer loop read at 100 000 cases

Revision ID: 0007_inbox_scale
Revises: 0006_delivery
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_inbox_scale'
down_revision: str | None = '0006_delivery'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = 'needs_human OR unread > 0'
OPEN_ALERT = "audience = 'coordinator' AND fired_at IS NOT NULL AND cancelled_at IS NULL"
OUTBOX_PROBLEM = "status IN ('held', 'failed')"


def _partial(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(name, table, columns, unique=False, sqlite_where=sa.text(where),
                    postgresql_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True),
                                   nullable=True))
    # The latest message of each contact, or its creation when it has none.
    op.execute(
        'UPDATE contacts SET last_activity_at = COALESCE('
        '(SELECT max(messages.created_at) FROM messages '
        'WHERE messages.contact_id = contacts.id), contacts.created_at)'
    )
    if op.get_bind().dialect.name != 'sqlite':
        # SQLite would copy the whole table (and cascade its children away) to add the
        # constraint; there the ORM default alone keeps the column filled.
        op.alter_column('contacts', 'last_activity_at',
                        existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index('ix_contacts_activity', 'contacts', ['last_activity_at', 'id'],
                    unique=False)
    _partial('ix_contacts_waiting', 'contacts', ['id'], WAITING)
    op.create_index('ix_cases_assigned', 'cases', ['assigned_to', 'status'], unique=False)
    _partial('ix_cases_urgent', 'cases', ['contact_id'], 'urgent')
    _partial('ix_timers_open_alerts', 'timers', ['case_id'], OPEN_ALERT)
    _partial('ix_outbox_problems', 'outbox', ['contact_id'], OUTBOX_PROBLEM)


def downgrade() -> None:
    op.drop_index('ix_outbox_problems', table_name='outbox')
    op.drop_index('ix_timers_open_alerts', table_name='timers')
    op.drop_index('ix_cases_urgent', table_name='cases')
    op.drop_index('ix_cases_assigned', table_name='cases')
    op.drop_index('ix_contacts_waiting', table_name='contacts')
    op.drop_index('ix_contacts_activity', table_name='contacts')
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('last_activity_at')

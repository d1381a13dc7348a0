"""delivery wake-ups: PostgreSQL notifies the workers when outbox or timer work appears

Revision ID: 0006_delivery
Revises: 0005_letter
Create Date: 2026-12-06 10:00:00.000000

Statement triggers call `pg_notify` in the transaction that writes the rows, so every
worker's listener (`bot.messaging.wakeups`) hears of the work only once it is committed, whoever wrote
it. Payloads are opaque: a contact id, an epoch due time. SQLite has no triggers of this kind
and needs none: it runs one process, which wakes its loops itself.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006_delivery'
down_revision: str | None = '0005_letter'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = [
    # New outbox rows: the dispatchers look now.
    """
    CREATE FUNCTION intake_outbox_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('intake_outbox', '');
        RETURN NULL;
    END $$
    """,
    # Rows back in the queue (a retry, a released claim, a coordinator's resend) wake the
    # dispatchers; web-chat replies recorded as sent wake that conversation's long polls.
    """
    CREATE FUNCTION intake_outbox_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        contact bigint;
    BEGIN
        IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
                   WHERE n.status = 'pending' AND o.status <> 'pending') THEN
            PERFORM pg_notify('intake_outbox', '');
        END IF;
        FOR contact IN
            SELECT DISTINCT n.contact_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.channel = 'webchat' AND n.status <> o.status
              AND n.status NOT IN ('pending', 'sending')
        LOOP
            PERFORM pg_notify('intake_webchat', contact::text);
        END LOOP;
        RETURN NULL;
    END $$
    """,
    # A timer written or moved: its due time, if it is still to fire, may be the earliest.
    """
    CREATE FUNCTION intake_timers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        due timestamptz;
    BEGIN
        SELECT min(due_at) INTO due FROM new_rows
        WHERE fired_at IS NULL AND cancelled_at IS NULL;
        IF due IS NOT NULL THEN
            PERFORM pg_notify('intake_timers', extract(epoch FROM due)::text);
        END IF;
        RETURN NULL;
    END $$
    """,
]

TRIGGERS = [
    """CREATE TRIGGER intake_outbox_inserted AFTER INSERT ON outbox
       FOR EACH STATEMENT EXECUTE FUNCTION intake_outbox_inserted()""",
    """CREATE TRIGGER intake_outbox_updated AFTER UPDATE ON outbox
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION intake_outbox_updated()""",
    """CREATE TRIGGER intake_timers_inserted AFTER INSERT ON timers
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION intake_timers_changed()""",
    """CREATE TRIGGER intake_timers_updated AFTER UPDATE ON timers
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION intake_timers_changed()""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in [*FUNCTIONS, *TRIGGERS]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER IF EXISTS intake_timers_updated ON timers')
    op.execute('DROP TRIGGER IF EXISTS intake_timers_inserted ON timers')
    op.execute('DROP TRIGGER IF EXISTS intake_outbox_updated ON outbox')
    op.execute('DROP TRIGGER IF EXISTS intake_outbox_inserted ON outbox')
    op.execute('DROP FUNCTION IF EXISTS intake_timers_changed()')
    op.execute('DROP FUNCTION IF EXISTS intake_outbox_updated()')
    op.execute('DROP FUNCTION IF EXISTS intake_outbox_inserted()')

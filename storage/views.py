"""Read-side queries for the coordinators' inbox: flat rows, no domain objects, no writes.

The inbox never loads aggregates to draw a page (Cosmic Python's `views.py`): each function
answers one screen's question with a few grouped queries and returns frozen dataclasses.
Labels are not chosen here; rows carry the stored keys (status, timer kind) and the web layer
renders them in the coordinator's language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from intake.case import CaseStatus, is_terminal
from intake.deadlines import Audience
from storage.tables import (
    OUTBOX_PROBLEM,
    URGENT,
    WAITING,
    AuditEntry,
    Case,
    CaseHistory,
    Contact,
    ConversationRow,
    Coordinator,
    Document,
    Message,
    OutboxItem,
    Timer,
)

LIST_LIMIT = 200
# Tabs count up to this many conversations, then say "more than".
COUNT_CAP = 1000
TRANSCRIPT_LIMIT = 1000
AUDIT_LIMIT = 200
_TERMINAL = tuple(s.value for s in CaseStatus if is_terminal(s))
_UNCLAIMED_EXEMPT = (CaseStatus.INTAKE_IN_PROGRESS.value, *_TERMINAL)
_CLAIMABLE = tuple(s.value for s in CaseStatus if s.value not in _UNCLAIMED_EXEMPT)



# Upload links are the family's capabilities: coordinators see that one was sent, not its token.
UPLOAD_TOKEN = re.compile(r"(/upload/)[A-Za-z0-9_-]{20,}")


def mask_capabilities(text: str) -> str:
    """Hide upload-link tokens in text shown to coordinators."""
    return UPLOAD_TOKEN.sub(r"\1…", text)


class InboxFilter(StrEnum):
    """Which conversations the list shows.

    Conversations that never consented (anyone can open a web chat) are kept apart: they are
    only under `UNCONSENTED`, so a flood of them cannot push real cases out of the others.
    """

    ATTENTION = "attention"
    MINE = "mine"
    ALL = "all"
    UNCONSENTED = "unconsented"


class InboxSort(StrEnum):
    """How the list is ordered."""

    URGENCY = "urgency"
    ACTIVITY = "activity"


@dataclass(frozen=True)
class InboxRow:
    """One conversation in the shared list."""

    contact_id: int
    channel: str
    display_name: str | None
    patient_name: str | None
    language: str | None
    case_id: int | None
    case_reference: str | None
    case_status: str | None
    urgent: bool
    needs_human: bool
    handoff: bool
    unread: int
    held: int
    failed: int
    blocked: bool
    open_alerts: int
    assigned_to: int | None
    assigned_name: str | None
    last_activity: datetime

    @property
    def unclaimed(self) -> bool:
        """A sent request nobody has taken yet (it must be acknowledged within 24 h)."""
        return (self.case_status is not None and self.assigned_to is None
                and self.case_status not in _UNCLAIMED_EXEMPT)

    @property
    def needs_attention(self) -> bool:
        """Something waits for a person: a message, a handoff, an SLA, a request nobody has
        taken. A held or failed send flags the contact (`needs_human`) until it is handled."""
        return bool(self.needs_human or self.handoff or self.unread or self.open_alerts
                    or self.unclaimed)


@dataclass(frozen=True)
class InboxCounts:
    """How many conversations each filter holds, for the tabs."""

    attention: int
    mine: int
    all: int
    unconsented: int
    cap: int = COUNT_CAP

    def capped(self, count: int) -> bool:
        """Whether a tab holds more than the counted number (shown as "more than")."""
        return count > self.cap


@dataclass(frozen=True)
class ContactInfo:
    """Who the conversation is with, on which channel."""

    id: int
    channel: str
    display_name: str | None
    locale: str | None
    needs_human: bool
    unread: int
    blocked_at: datetime | None
    reminders_off: bool
    last_inbound_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class CaseInfo:
    """The case the conversation is about (its answers are the family's own words)."""

    id: int
    reference: str
    status: str
    language: str
    answers: dict[str, Any]
    routing: dict[str, Any] | None
    urgent: bool
    assigned_to: int | None
    assigned_name: str | None
    submitted_at: datetime | None
    file_complete_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TranscriptLine:
    """One message as the coordinators see it, with the delivery state of outgoing ones."""

    id: int
    direction: str
    author: str
    coordinator_name: str | None
    text: str
    options: tuple[str, ...]
    attachments: int
    created_at: datetime
    delivery: str | None
    delivery_error: str | None


@dataclass(frozen=True)
class DocumentLine:
    """A received file: metadata only."""

    id: int
    kind: str
    filename: str
    content_type: str | None
    size: int
    is_dicom: bool
    valid: bool
    inspection: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class TimerLine:
    """A deadline of the case and where it stands."""

    id: int
    kind: str
    audience: str
    due_at: datetime
    fired_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class HistoryLine:
    """One status change."""

    from_status: str | None
    to_status: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class ConversationDetail:
    """Everything the conversation page shows."""

    contact: ContactInfo
    state: dict[str, Any]
    case: CaseInfo | None
    transcript: tuple[TranscriptLine, ...]
    transcript_truncated: bool
    documents: tuple[DocumentLine, ...]
    timers: tuple[TimerLine, ...]
    history: tuple[HistoryLine, ...]


@dataclass(frozen=True)
class AuditLine:
    """One audit entry, with names resolved."""

    id: int
    at: datetime
    coordinator_id: int | None
    coordinator_name: str | None
    action: str
    case_id: int | None
    case_reference: str | None
    contact_id: int | None
    detail: dict[str, Any]


class _ListParts:
    """The per-contact values the list reads, none of them grouping a large table.

    At 100 000 conversations the list walks the contacts by last activity (or a small set of
    candidates) and looks up a page's worth of rows: the latest case by index, the held and
    failed sends and the open SLA alerts from their small partial indexes.
    """

    def __init__(self, *, grouped: bool) -> None:
        latest = aliased(Case)
        # The conversation's own case wins; otherwise the contact's latest case.
        self.case_id = func.coalesce(
            ConversationRow.case_id,
            select(func.max(latest.id)).where(latest.contact_id == Contact.id)
            .scalar_subquery(),
        )
        self.last_at = Contact.last_activity_at
        self.problems: Any = None
        self.alerts: Any = None
        if grouped:
            # SQLite: the held/failed sends and the open alerts, each grouped once from its
            # small partial index and joined (SQLite evaluates a correlated subquery again
            # wherever it appears: select, filter and order).
            self.problems = (
                select(
                    OutboxItem.contact_id.label("contact_id"),
                    func.sum(case((OutboxItem.status == "held", 1), else_=0)).label("held"),
                    func.sum(case((OutboxItem.status == "failed", 1), else_=0))
                    .label("failed"),
                )
                .where(text(OUTBOX_PROBLEM))
                .group_by(OutboxItem.contact_id)
                .subquery("outbox_problems")
            )
            self.alerts = (
                select(Timer.case_id.label("case_id"), func.count().label("open_alerts"))
                .where(*_open_alert(Timer))
                .group_by(Timer.case_id)
                .subquery("open_alerts")
            )
            self.held = func.coalesce(self.problems.c.held, 0)
            self.failed = func.coalesce(self.problems.c.failed, 0)
            alerts = func.coalesce(self.alerts.c.open_alerts, 0)
        else:
            # PostgreSQL: lookups per listed row; joined to grouped subqueries, its LIMIT plans
            # compare every page row with every group.
            held, failed, alert = aliased(OutboxItem), aliased(OutboxItem), aliased(Timer)
            self.held = _count(held, held.contact_id == Contact.id, held.status == "held")
            self.failed = _count(failed, failed.contact_id == Contact.id,
                                 failed.status == "failed")
            alerts = _count(alert, alert.case_id == Case.id, *_open_alert(alert))
        # Fired coordinator timers nobody has resolved yet: the overdue SLA alerts.
        self.open_alerts = case((Case.status.in_(_TERMINAL), 0), else_=alerts)

    @classmethod
    def for_session(cls, session: AsyncSession) -> _ListParts:
        """The form that suits the session's database."""
        return cls(grouped=session.bind.dialect.name == "sqlite")

    def joined(self, query: Any) -> Any:
        """Join everything the list reads to `query`, one row per listed contact."""
        # A scalar lookup, not EXISTS: PostgreSQL would hash every family message for it.
        family_wrote = (
            select(Message.id).where(Message.contact_id == Contact.id, Message.direction == "in")
            .limit(1).scalar_subquery().is_not(None)
        )
        joined = (
            query.select_from(Contact)
            .outerjoin(ConversationRow, ConversationRow.contact_id == Contact.id)
            .outerjoin(Case, Case.id == self.case_id)
            .outerjoin(Coordinator, Coordinator.id == Case.assigned_to)
        )
        if self.problems is not None:
            joined = (joined.outerjoin(self.problems, self.problems.c.contact_id == Contact.id)
                      .outerjoin(self.alerts, self.alerts.c.case_id == Case.id))
        return joined.where(or_(Case.id.is_not(None), family_wrote))

    @property
    def consented(self) -> Any:
        """A family that gave consent (a case exists only after consent; an erased case
        keeps its row)."""
        return or_(Contact.consent_at.is_not(None), Case.id.is_not(None))

    def attention(self) -> Any:
        """The condition of the "needs attention" filter (mirrors `InboxRow.needs_attention`)."""
        return or_(
            Contact.needs_human.is_(True), Contact.unread > 0, self.open_alerts > 0,
            self.unclaimed,
        )

    @property
    def unclaimed(self) -> Any:
        return and_(Case.id.is_not(None), Case.assigned_to.is_(None),
                    Case.status.not_in(_UNCLAIMED_EXEMPT))

    @property
    def signalled(self) -> Any:
        """Some key of the urgency order is set: such rows come before all quiet ones."""
        return or_(
            func.coalesce(Case.urgent, false()).is_(True), self.open_alerts > 0,
            Contact.needs_human.is_(True), Contact.unread > 0, self.held + self.failed > 0,
        )

    def urgency(self) -> tuple[Any, ...]:
        """The urgency order: urgent, overdue, waiting for a person, failing, unread, latest."""
        return (
            func.coalesce(Case.urgent, false()).desc(), self.open_alerts.desc(),
            Contact.needs_human.desc(), (self.held + self.failed).desc(),
            Contact.unread.desc(), self.last_at.desc(), Contact.id.desc(),
        )

    def tab(self, query: Any, show: InboxFilter, coordinator_id: int | None) -> Any:
        """Restrict `query` to one tab of the list."""
        if show is InboxFilter.UNCONSENTED:
            return query.where(~self.consented)
        query = query.where(self.consented)
        if show is InboxFilter.ATTENTION:
            return query.where(Contact.id.in_(_candidates()), self.attention())
        if show is InboxFilter.MINE:
            return query.where(_mine(coordinator_id))
        return query


def _count(table: Any, *conditions: Any) -> Any:
    """How many rows of `table` meet the conditions, as a correlated scalar."""
    return select(func.count()).select_from(table).where(*conditions).scalar_subquery()


def _open_alert(timer: Any) -> tuple[Any, ...]:
    """The conditions of `ix_timers_open_alerts`, spelled so the planner matches it."""
    return (timer.audience == Audience.COORDINATOR.value, timer.fired_at.is_not(None),
            timer.cancelled_at.is_(None))


def _candidates() -> Any:
    """Every contact that may need attention or sort before the quiet ones: a superset read
    from small partial indexes (the exact conditions are checked on the joined row)."""
    # Spelled as the partial indexes' own conditions, so that both planners use them.
    alert, alerted = aliased(Timer), aliased(Case)
    return union(
        select(Contact.id).where(text(WAITING)),
        select(OutboxItem.contact_id).where(text(OUTBOX_PROBLEM)),
        select(Case.contact_id).where(text(URGENT)),
        select(Case.contact_id).where(Case.assigned_to.is_(None), Case.status.in_(_CLAIMABLE)),
        select(alerted.contact_id).join(alert, alert.case_id == alerted.id)
        .where(*_open_alert(alert)),
    ).subquery("candidates").select()


def _mine(coordinator_id: int | None) -> Any:
    return Case.assigned_to == coordinator_id if coordinator_id is not None else false()


class Cursor:
    """Where the next page of the list starts, as the "next page" link carries it.

    The urgency order lists the signalled rows first (a small set, paged by position: `s<n>`)
    and then the quiet ones by last activity, paged by keyset like the activity order
    (`q<microseconds>.<contact id>`, or `q` for the first quiet row): a deep page costs what
    the first one does.
    """

    def __init__(self, offset: int = 0, before: tuple[datetime, int] | None = None, *,
                 quiet: bool = False) -> None:
        self.offset = offset
        self.before = before
        self.quiet = quiet or before is not None

    def __str__(self) -> str:
        if not self.quiet:
            return f"s{self.offset}"
        if self.before is None:
            return "q"
        at, contact_id = self.before
        return f"q{int(at.timestamp() * 1_000_000)}.{contact_id}"

    @classmethod
    def parse(cls, value: str | None) -> Cursor:
        """The cursor of a link; anything malformed is the first page."""
        if not value or len(value) > 48:
            return cls()
        try:
            if value[0] == "s":
                return cls(offset=max(0, min(int(value[1:]), 10**9)))
            if value == "q":
                return cls(quiet=True)
            if value[0] == "q":
                micros, contact_id = value[1:].split(".", 1)
                at = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
                return cls(before=(at, int(contact_id)))
        except (ValueError, OverflowError, OSError):
            pass
        return cls()


@dataclass(frozen=True)
class InboxPage:
    """One page of the list and where the next one starts (None: this is the last)."""

    rows: list[InboxRow]
    next: Cursor | None


async def inbox_page(
    session: AsyncSession, *, show: InboxFilter = InboxFilter.ATTENTION,
    sort: InboxSort = InboxSort.URGENCY, coordinator_id: int | None = None,
    limit: int = LIST_LIMIT, after: Cursor | None = None,
) -> InboxPage:
    """A page of the shared list, filtered and sorted as the coordinator asked."""
    parts = _ListParts.for_session(session)
    cursor = after or Cursor()
    query = parts.tab(parts.joined(select(
        Contact, ConversationRow.state, Case, Coordinator.name, parts.held, parts.failed,
        parts.open_alerts, parts.last_at,
    )), show, coordinator_id)
    rows: list[InboxRow] = []
    quiet = query
    if sort is InboxSort.URGENCY:
        if not cursor.quiet:
            signalled = query.where(Contact.id.in_(_candidates()), parts.signalled)
            found = await _rows(session, signalled.order_by(*parts.urgency())
                                .offset(cursor.offset).limit(limit + 1))
            if len(found) > limit:
                return InboxPage(found[:limit], Cursor(offset=cursor.offset + limit))
            rows = found
        quiet = query.where(~parts.signalled)
    if cursor.before is not None:
        at, contact_id = cursor.before
        quiet = quiet.where(or_(parts.last_at < at,
                                and_(parts.last_at == at, Contact.id < contact_id)))
    rest = limit - len(rows)
    found = await _rows(session, quiet.order_by(parts.last_at.desc(), Contact.id.desc())
                        .limit(rest + 1))
    rows += found[:rest]
    if len(found) <= rest:
        return InboxPage(rows, None)
    if not rest:  # the signalled rows filled this page exactly; the quiet ones come next
        return InboxPage(rows, Cursor(quiet=True))
    return InboxPage(rows, Cursor(before=(rows[-1].last_activity, rows[-1].contact_id)))


async def _rows(session: AsyncSession, query: Any) -> list[InboxRow]:
    rows: list[InboxRow] = []
    for contact, state, case_row, assigned_name, held, failed, alerts, last_at in (
        await session.execute(query)
    ):
        answers = case_row.answers if case_row is not None else None
        patient = answers.get("patient_name") if isinstance(answers, dict) else None
        rows.append(InboxRow(
            contact_id=contact.id, channel=contact.channel, display_name=contact.display_name,
            patient_name=patient if isinstance(patient, str) else None,
            language=contact.locale or (case_row.language if case_row else None),
            case_id=case_row.id if case_row else None,
            case_reference=case_row.reference if case_row else None,
            case_status=case_row.status if case_row else None,
            urgent=bool(case_row.urgent) if case_row else False,
            needs_human=contact.needs_human, handoff=bool((state or {}).get("handoff")),
            unread=contact.unread, held=int(held or 0), failed=int(failed or 0),
            blocked=contact.blocked_at is not None, open_alerts=int(alerts or 0),
            assigned_to=case_row.assigned_to if case_row else None,
            assigned_name=assigned_name, last_activity=last_at,
        ))
    return rows


async def inbox_rows(
    session: AsyncSession, *, show: InboxFilter = InboxFilter.ATTENTION,
    sort: InboxSort = InboxSort.URGENCY, coordinator_id: int | None = None,
    limit: int = LIST_LIMIT,
) -> list[InboxRow]:
    """The first page of the shared list."""
    page = await inbox_page(session, show=show, sort=sort, coordinator_id=coordinator_id,
                            limit=limit)
    return page.rows


async def inbox_counts(
    session: AsyncSession, *, coordinator_id: int | None, cap: int = COUNT_CAP
) -> InboxCounts:
    """How many conversations each tab of the list holds, each counted up to `cap` + 1
    (a tab holding more says "more than `cap`"): counting 100 000 rows on every load of the
    page would cost more than the page."""
    parts = _ListParts.for_session(session)
    counts = {}
    for show in InboxFilter:
        query = parts.tab(parts.joined(select(Contact.id)), show, coordinator_id)
        counted = select(func.count()).select_from(query.limit(cap + 1).subquery())
        counts[show.value] = int(await session.scalar(counted) or 0)
    return InboxCounts(cap=cap, **counts)


async def conversation_detail(
    session: AsyncSession, contact_id: int, *, limit: int = TRANSCRIPT_LIMIT
) -> ConversationDetail | None:
    """The conversation page of one contact: transcript, case, documents, deadlines, history."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        return None
    row = await session.get(ConversationRow, contact_id)
    case_id = row.case_id if row is not None else None
    if case_id is None:
        case_id = await session.scalar(
            select(func.max(Case.id)).where(Case.contact_id == contact_id)
        )
    case_info = await _case_info(session, case_id) if case_id is not None else None
    transcript, truncated = await _transcript(session, contact_id, limit)
    documents: tuple[DocumentLine, ...] = ()
    timers: tuple[TimerLine, ...] = ()
    history: tuple[HistoryLine, ...] = ()
    if case_info is not None:
        documents = tuple(
            DocumentLine(d.id, d.kind, d.filename, d.content_type, d.size, d.is_dicom, d.valid,
                         dict(d.inspection or {}), d.created_at)
            for d in (await session.execute(
                select(Document).where(Document.case_id == case_info.id).order_by(Document.id)
            )).scalars()
        )
        timers = tuple(
            TimerLine(t.id, t.kind, t.audience, t.due_at, t.fired_at, t.cancelled_at)
            for t in (await session.execute(
                select(Timer).where(Timer.case_id == case_info.id)
                .order_by(Timer.due_at, Timer.id)
            )).scalars()
        )
        history = tuple(
            HistoryLine(h.from_status, h.to_status, h.actor, h.at)
            for h in (await session.execute(
                select(CaseHistory).where(CaseHistory.case_id == case_info.id)
                .order_by(CaseHistory.at, CaseHistory.id)
            )).scalars()
        )
    return ConversationDetail(
        contact=ContactInfo(
            id=contact.id, channel=contact.channel, display_name=contact.display_name,
            locale=contact.locale or contact.locale_hint, needs_human=contact.needs_human,
            unread=contact.unread, blocked_at=contact.blocked_at,
            reminders_off=contact.reminders_off, last_inbound_at=contact.last_inbound_at,
            created_at=contact.created_at,
        ),
        state=dict(row.state or {}) if row is not None else {},
        case=case_info, transcript=transcript, transcript_truncated=truncated,
        documents=documents, timers=timers, history=history,
    )


async def _case_info(session: AsyncSession, case_id: int) -> CaseInfo | None:
    found = (await session.execute(
        select(Case, Coordinator.name)
        .outerjoin(Coordinator, Coordinator.id == Case.assigned_to)
        .where(Case.id == case_id)
    )).one_or_none()
    if found is None:
        return None
    case_row, assigned_name = found
    return CaseInfo(
        id=case_row.id, reference=case_row.reference, status=case_row.status,
        language=case_row.language, answers=dict(case_row.answers or {}),
        routing=dict(case_row.routing) if case_row.routing else None,
        urgent=bool(case_row.urgent), assigned_to=case_row.assigned_to,
        assigned_name=assigned_name, submitted_at=case_row.submitted_at,
        file_complete_at=case_row.file_complete_at, created_at=case_row.created_at,
    )


async def _transcript(
    session: AsyncSession, contact_id: int, limit: int
) -> tuple[tuple[TranscriptLine, ...], bool]:
    query = (
        select(Message, OutboxItem.status, OutboxItem.last_error, Coordinator.name)
        .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
        .outerjoin(Coordinator, Coordinator.id == Message.coordinator_id)
        .where(Message.contact_id == contact_id)
        .order_by(Message.id.desc())
        .limit(limit + 1)
    )
    found = list(await session.execute(query))
    truncated = len(found) > limit
    lines = tuple(
        TranscriptLine(
            id=m.id, direction=m.direction, author=m.author, coordinator_name=name,
            text=mask_capabilities(m.text),
            options=tuple(str(o.get("label", "")) for o in (m.options or [])),
            attachments=m.attachments, created_at=m.created_at,
            delivery=status if m.direction == "out" else None,
            delivery_error=error if status in ("held", "failed") else None,
        )
        for m, status, error, name in reversed(found[:limit])
    )
    return lines, truncated


async def audit_lines(
    session: AsyncSession, *, limit: int = AUDIT_LIMIT, before: int | None = None,
    case_id: int | None = None, contact_id: int | None = None,
) -> list[AuditLine]:
    """The latest audit entries, newest first (optionally for one case or contact)."""
    query = (
        select(AuditEntry, Coordinator.name, Case.reference)
        .outerjoin(Coordinator, Coordinator.id == AuditEntry.coordinator_id)
        .outerjoin(Case, Case.id == AuditEntry.case_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    conditions = []
    if before is not None:
        conditions.append(AuditEntry.id < before)
    if case_id is not None:
        conditions.append(AuditEntry.case_id == case_id)
    if contact_id is not None:
        conditions.append(AuditEntry.contact_id == contact_id)
    if conditions:
        query = query.where(and_(*conditions))
    return [
        AuditLine(e.id, e.at, e.coordinator_id, name, e.action, e.case_id, reference,
                  e.contact_id, dict(e.detail or {}))
        for e, name, reference in await session.execute(query)
    ]


async def coordinator_names(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """Names of coordinators by id, for labels."""
    if not ids:
        return {}
    query = select(Coordinator.id, Coordinator.name).where(Coordinator.id.in_(list(ids)))
    return {cid: name for cid, name in await session.execute(query)}

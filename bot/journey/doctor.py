"""E-mail to the treating doctor: a secure link to the opinion, never the PDF itself.

Only when the family agreed in the intake. Mails are rows written in the delivering
transaction (like the outbox) and sent by a worker over SMTP with retries; the inbox shows
each mail's status. Once sent, the link's token is masked in the stored body: the database
keeps no working capability.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n.render import Renderer
from bot.journey.context import JourneyError, audit, locked_case
from bot.journey.opinion_links import Audience, current_opinion, issue_link, opinion_url
from intake.prompts import Text
from storage.db import Database
from storage.tables import Case, Email, Opinion
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")
MAX_ATTEMPTS = 6
# "Dr", "Dr.", "Doctor", "Docteur", "Prof." typed before the name: the greeting has its own.
TITLE = re.compile(r"^\s*((dr|doctor|docteur|dokter|prof|professor|professeur)\.?\s+)+",
                   re.IGNORECASE)
STALE_CLAIM = timedelta(minutes=10)
OPINION_KIND = "opinion_to_doctor"


class DoctorMailOutcome:
    """What happened with the doctor when an opinion was delivered (shown in the inbox)."""

    QUEUED = "queued"
    NOT_AGREED = "not_agreed"
    NO_ADDRESS = "no_address"
    MAIL_OFF = "mail_off"


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from `SMTP_URL`: `smtp://` uses STARTTLS, `smtps://` TLS at once."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    require_starttls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """Read `smtp://user:pass@host:587` or `smtps://…:465`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:587")
        implicit = parts.scheme == "smtps"
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        return cls(
            host=parts.hostname, port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            # A relay on this same machine may speak plain SMTP; anything else must encrypt
            # before credentials or health-related mail cross the network.
            require_starttls=not implicit and not loopback,
        )


def address_of(text: object) -> str | None:
    """An e-mail address found in what the family typed as the doctor's contact."""
    found = EMAIL.search(text) if isinstance(text, str) else None
    return found.group(0) if found else None


def doctor_address(case: Case) -> str | None:
    """The address to write to: the coordinators' correction first, then the intake's."""
    return case.physician_email or address_of((case.answers or {}).get("physician_contact"))


def shares_with_doctor(case: Case) -> bool:
    """The family agreed in the intake that the opinion may be sent to the treating doctor."""
    return (case.answers or {}).get("share_with_physician") is True


def mask(body: str, token: str) -> str:
    """The body with the link's token hidden (kept for the record, no longer usable)."""
    return body.replace(token, token[:4] + "\u2026")


class DoctorMail:
    """Queues the doctor's e-mails and sends them; `wake()` after a commit."""

    def __init__(self, db: Database, renderer: Renderer, clock: Clock, base_url: str,
                 smtp_url: str | None, sender: str, poll_seconds: float = 5.0) -> None:
        self.db = db
        self.renderer = renderer
        self.clock = clock
        self.base_url = base_url
        self.server = SmtpServer.parse(smtp_url) if smtp_url else None
        self.sender = sender
        self.poll_seconds = poll_seconds
        self.retry_seconds = 30.0  # first retry; doubles with each attempt
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        """Mail is on when `SMTP_URL` is set."""
        return self.server is not None

    def wake(self) -> None:
        """Look for mail to send now rather than at the next poll."""
        self._wake.set()

    async def queue_opinion(
        self, session: AsyncSession, case: Case, opinion: Opinion, coordinator_id: int | None,
        now: datetime,
    ) -> str:
        """Queue the opinion's link for the doctor, if agreed and possible; the outcome."""
        if not shares_with_doctor(case):
            return DoctorMailOutcome.NOT_AGREED
        address = doctor_address(case)
        if address is None:
            return DoctorMailOutcome.NO_ADDRESS
        if not self.enabled:
            return DoctorMailOutcome.MAIL_OFF
        token = await issue_link(session, opinion, Audience.DOCTOR, now)
        lang = self.renderer.catalogs.resolve(
            str((case.answers or {}).get("report_language") or case.language))
        name = TITLE.sub("", str((case.answers or {}).get("physician_name") or "")).strip()
        greeting = (Text.of("Dear Dr {name},", name=name[:120]) if name
                    else Text.of("Dear Doctor,"))
        body = Text.of(
            "{greeting}\n\nThe family of your patient asked us to share with you the written "
            "second opinion prepared by specialists of Belgian university hospitals (request "
            "{reference}).\n\nFor confidentiality the document is not attached. Download it "
            "with this personal secure link, valid for 30 days:\n{link}\n\nPlease do not "
            "forward this link. For any question, reply to this e-mail.\n\nThe second-opinion "
            "coordination team", greeting=greeting, reference=case.reference,
            link=opinion_url(self.base_url, token))
        subject = Text.of("Second opinion for your patient \u2014 request {reference}",
                          reference=case.reference)
        session.add(Email(case_id=case.id, kind=OPINION_KIND, to_address=address,
                          language=lang, subject=self.renderer.text(subject, lang),
                          body=self.renderer.text(body, lang), status="pending",
                          attempts=0, next_attempt_at=now, coordinator_id=coordinator_id,
                          created_at=now))
        return DoctorMailOutcome.QUEUED

    async def set_address(self, coordinator_id: int, contact_id: int, address: str) -> None:
        """Add or correct the doctor's address (the intake may have given a phone number)."""
        address = address.strip()
        if len(address) > 254 or not EMAIL.fullmatch(address):
            raise JourneyError("doctor_address")
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            found.case.physician_email = address
            found.case.updated_at = now
            audit(found.uow.session, coordinator_id, "doctor_address", now,
                  case_id=found.case.id, contact_id=contact_id)
            await found.uow.commit()

    async def send_opinion_now(self, coordinator_id: int, contact_id: int) -> None:
        """E-mail the opinion in force to the doctor (after an address was added, or again)."""
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            session, case = found.uow.session, found.case
            opinion = await current_opinion(session, case.id)
            if opinion is None:
                raise JourneyError("no_opinion")
            outcome = await self.queue_opinion(session, case, opinion, coordinator_id, now)
            if outcome != DoctorMailOutcome.QUEUED:
                raise JourneyError(f"doctor_{outcome}")
            audit(session, coordinator_id, "doctor_mail_queued", now, case_id=case.id,
                  contact_id=contact_id, opinion_id=opinion.id)
            await found.uow.commit()
        self.wake()

    async def send_due(self) -> int:
        """Send every due mail once; returns how many were tried."""
        if self.server is None:
            return 0
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            # Rows a crashed worker left "sending" go back to the queue (at least once).
            await uow.session.execute(
                update(Email).where(Email.status == "sending",
                                    Email.claimed_at < now - STALE_CLAIM)
                .values(status="pending"))
            query = (select(Email).where(Email.status == "pending", Email.next_attempt_at <= now)
                     .order_by(Email.id).limit(20))
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            mails = list((await uow.session.execute(query)).scalars())
            for mail in mails:
                mail.status = "sending"
                mail.claimed_at = now
                mail.attempts += 1
            await uow.commit()
        for mail in mails:
            error, permanent = await self._send(mail)
            await self._record(mail.id, error, permanent)
        return len(mails)

    async def _send(self, mail: Email) -> tuple[str | None, bool]:
        server = self.server
        assert server is not None
        message = EmailMessage()
        message["From"] = formataddr(("Second opinion", self.sender))
        message["To"] = mail.to_address
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(mail.body)
        message["Content-Language"] = mail.language  # set_content drops Content-* headers
        try:
            await aiosmtplib.send(
                message, hostname=server.host, port=server.port, username=server.username,
                password=server.password, use_tls=server.implicit_tls,
                start_tls=True if server.require_starttls else None, timeout=30,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            # 4xx is "not now" (greylisting, a full mailbox), 5xx "never".
            codes = [refused.code for refused in error.recipients]
            return "recipient refused", bool(codes) and min(codes) >= 500
        except aiosmtplib.SMTPResponseException as error:
            return f"smtp {error.code}", 500 <= error.code < 600
        except (aiosmtplib.SMTPException, OSError) as error:
            return type(error).__name__, False
        return None, False

    async def _record(self, mail_id: int, error: str | None, permanent: bool) -> None:
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            mail = await uow.session.get(Email, mail_id)
            if mail is None:
                return
            if error is None:
                mail.status, mail.sent_at, mail.last_error = "sent", now, None
                mail.body = _masked_links(mail.body, self.base_url)
                audit(uow.session, mail.coordinator_id, "doctor_mail_sent", now,
                      case_id=mail.case_id, email_id=mail.id)
            elif permanent or mail.attempts >= MAX_ATTEMPTS:
                mail.status, mail.last_error = "failed", error[:200]
                log.warning("doctor mail failed", extra={"case_id": mail.case_id,
                                                         "email_id": mail.id})
            else:
                mail.status, mail.last_error = "pending", error[:200]
                mail.next_attempt_at = now + timedelta(
                    seconds=self.retry_seconds * 2 ** (mail.attempts - 1))
            await uow.commit()

    async def run(self) -> None:
        """Send forever: on wake-up, and every poll for retries."""
        while True:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)


def _masked_links(body: str, base_url: str) -> str:
    prefix = f"{base_url.rstrip('/')}/opinion/"
    return re.sub(re.escape(prefix) + r"([A-Za-z0-9_-]{43})",
                  lambda m: prefix + mask(m.group(1), m.group(1)), body)

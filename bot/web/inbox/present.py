"""Turn the read-side rows into what the inbox pages print, in the coordinator's language."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel import Locale
from babel.lists import format_list

from bot.i18n.render import Renderer
from bot.web.inbox.language import FORMAT_LOCALES, Formats
from intake.case import CaseStatus, allowed_transitions, is_terminal, status_label
from intake.checklist import ItemKind, checklist_for, is_satisfied, received_from
from intake.conversation import SUMMARY_LABELS
from intake.deadlines import Audience, SlaKind, sla_label
from intake.errors import UnknownReviewer
from intake.prompts import N_, Text
from intake.questionnaire import STEP_BY_KEY, StepKind, applicable_steps
from intake.routing import specialty_label
from storage.views import CaseInfo, DocumentLine, TimerLine

# Statuses the inbox never offers: erasure deletes the family's data and has its own path
# (the family's request, or the retention purge), so it is not a status to pick from a list.
NOT_OFFERED = frozenset({CaseStatus.ERASED})


@dataclass(frozen=True)
class SummaryItem:
    """One answer of the intake: label, rendered value, whether it is the family's own text."""

    key: str
    label: str
    value: str
    family_text: bool


@dataclass(frozen=True)
class ChecklistLine:
    """One document the case needs, ticked or not."""

    label: str
    hint: str
    required: bool
    satisfied: bool


@dataclass(frozen=True)
class DeadlineLine:
    """A timer in words: what, for whom, when, and whether it is overdue or done."""

    label: str
    audience: str
    due_at: datetime
    state: str


@dataclass(frozen=True)
class StatusChoice:
    """One status the case may move to."""

    value: str
    label: str


class Presenter:
    """Renders domain keys (status, timer kind, reviewer, answers) for one coordinator."""

    def __init__(self, renderer: Renderer, lang: str, formats: Formats) -> None:
        self.renderer = renderer
        self.lang = lang
        self.formats = formats

    def text(self, t: Text) -> str:
        """A domain message in the coordinator's language."""
        return self.renderer.text(t, self.lang)

    def status(self, status: str | None) -> str:
        """A case status in words."""
        if not status:
            return ""
        try:
            return self.text(status_label(status))
        except ValueError:
            return status

    def status_choices(self, status: str) -> list[StatusChoice]:
        """The statuses offered in the status form, in the order of the case's life."""
        allowed = allowed_transitions(status)
        return [
            StatusChoice(s.value, self.status(s.value))
            for s in CaseStatus
            if s in allowed and s not in NOT_OFFERED
        ]

    def is_live(self, status: str) -> bool:
        """The case's work is not over."""
        return not is_terminal(status)

    def reviewers(self, routing: dict[str, Any] | None) -> list[str]:
        """The reviewing specialties of a routed case."""
        labels = []
        for key in (routing or {}).get("specialties", []):
            try:
                labels.append(self.text(specialty_label(key)))
            except UnknownReviewer:
                labels.append(str(key))
        return labels

    def summary(self, case: CaseInfo) -> list[SummaryItem]:
        """The intake answers, labelled as in the family's summary, in the coordinator's words."""
        answers = case.answers
        items = []
        for step in applicable_steps(answers):
            if step.key not in answers:
                continue
            value, family_text = self._answer(step.key, answers[step.key])
            label = self.renderer.catalogs.gettext(self.lang, SUMMARY_LABELS.get(step.key,
                                                                                 step.key))
            items.append(SummaryItem(step.key, label, value, family_text))
        return items

    def _answer(self, key: str, value: Any) -> tuple[str, bool]:
        step = STEP_BY_KEY[key]
        gettext = self.renderer.catalogs.gettext
        if value is None:
            return gettext(self.lang, N_("(skipped)")), False
        labels = {option.key: option.label for option in step.options}
        if step.kind is StepKind.CHOICE:
            label = labels.get(value)
            return (self.text(label), False) if label is not None else (str(value), True)
        if step.kind is StepKind.MULTI and isinstance(value, list):
            words = [self.text(labels[v]) if v in labels else str(v) for v in value]
            return format_list(words, locale=self.formats.locale), False
        if step.kind is StepKind.YES_NO:
            return gettext(self.lang, N_("Yes") if value else N_("No")), False
        if step.kind is StepKind.DATE:
            try:
                return self.formats.day(date.fromisoformat(str(value))), False
            except ValueError:
                return str(value), True
        if step.kind is StepKind.COUNTRY:
            locale = Locale.parse(FORMAT_LOCALES.get(self.lang, self.lang))
            return locale.territories.get(str(value), str(value)), False
        return str(value), True

    def checklist(
        self, case: CaseInfo, documents: Iterable[DocumentLine]
    ) -> list[ChecklistLine]:
        """The case's document checklist, ticked from the documents received."""
        received = received_from((d.kind, d.is_dicom, d.valid, d.inspection)
                                 for d in documents)
        return [
            ChecklistLine(self.text(item.label), self.text(item.hint), item.required,
                          is_satisfied(item, received, case.answers))
            for item in checklist_for(case.answers)
        ]

    def document_kind(self, kind: str) -> str:
        """What a document was filed as."""
        if kind not in ItemKind._value2member_map_:
            return kind
        for item in checklist_for({}):
            if item.kind == kind:
                return self.text(item.label)
        return self.renderer.catalogs.gettext(self.lang, N_("Other documents"))

    def deadlines(self, timers: Iterable[TimerLine]) -> list[DeadlineLine]:
        """The case's timers in words, with their state."""
        gettext = self.renderer.catalogs.gettext
        lines = []
        for timer in timers:
            try:
                label = self.text(sla_label(timer.kind))
            except ValueError:
                label = timer.kind
            coordinators = timer.audience == Audience.COORDINATOR
            audience = gettext(self.lang, N_("Coordinators") if coordinators else N_("Family"))
            if timer.cancelled_at is not None:
                # A coordinator deadline ends because its work was done; a reminder, because
                # it became pointless.
                state = "resolved" if coordinators else "cancelled"
            elif timer.fired_at is not None:
                state = "overdue" if coordinators else "sent"
            else:
                state = "pending"
            lines.append(DeadlineLine(label, audience, timer.due_at, state))
        return lines

    def alert_label(self, kind: str) -> str:
        """An SLA alert's name."""
        try:
            return self.text(sla_label(SlaKind(kind)))
        except ValueError:
            return kind

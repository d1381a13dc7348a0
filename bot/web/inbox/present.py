"""Turn the read-side rows into what the inbox pages print, in the coordinator's language."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel import Locale
from babel.lists import format_list

from bot.documents.messages import modality_text
from bot.i18n.render import Renderer
from bot.imaging.quality import middle_instance, series_documents
from bot.web.inbox.language import FORMAT_LOCALES, Formats
from intake.case import CaseStatus, allowed_transitions, is_terminal, status_label
from intake.checklist import ItemKind, checklist_for, is_satisfied, received_from
from intake.conversation import SUMMARY_LABELS
from intake.deadlines import Audience, SlaKind, sla_label
from intake.errors import UnknownReviewer
from intake.imaging import Category, Finding, Note, assess_inspections
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
class SeriesLine:
    """One imaging series: what it is, the verdict and why, and which image previews it."""

    title: str
    images: str
    verdict: str
    diagnostic: bool
    notes: tuple[str, ...]
    preview_id: int | None
    has_preview: bool


_CATEGORY_LABELS = {
    Category.DIAGNOSTIC: N_("Diagnostic quality"),
    Category.INCOMPLETE: N_("Incomplete series"),
    Category.KEY_IMAGES: N_("Key images only"),
    Category.SCREEN_CAPTURE: N_("Screen captures or derived images"),
    Category.LOCALIZER: N_("Localizer only"),
    Category.REPORT: N_("Report, not images"),
    Category.KEY_OBJECTS: N_("Key image list"),
    Category.UNASSESSED: N_("Not assessed"),
}
_FINDINGS = {
    Finding.SECONDARY_CAPTURE: N_(
        "Secondary Capture objects: pictures of a screen, not the scanner's images."),
    Finding.DERIVED: N_(
        "Image Type DERIVED or SECONDARY: processed copies, not the original images."),
    Finding.SCREEN_SAVE: N_("Conversion Type: a workstation screen save or a synthetic image."),
    Finding.PHOTOGRAPHED_FILM: N_(
        "Conversion Type: digitised film or a scanned picture (photographed films)."),
    Finding.BURNED_IN: N_("Annotations burned into the pixels."),
    Finding.SINGLE_IMAGE: N_("A single image of a cross-sectional examination."),
    Finding.KOS_WITHOUT_IMAGES: N_(
        "Key Object Selection document: none of the series it refers to was received."),
    Finding.LOCALIZER: N_("Localizer (scout) images only."),
    Finding.LOSSY: N_("Lossy compression: possibly not of diagnostic quality."),
    Finding.THICK_SLICES: N_("Slices thicker than 5 mm: small lesions may be missed."),
    Finding.DOCUMENT: N_(
        "A report stored as DICOM (PDF or structured report), filed under imaging reports."),
}


def _counted_finding(note: Note) -> Text | None:
    count = note.count or 0
    if note.finding is Finding.SPARSE:
        return Text.counted(
            "{count} image spread over the scanned range: selected key images, not a "
            "continuous stack.",
            "{count} images spread over the scanned range: selected key images, not a "
            "continuous stack.", count)
    if note.finding is Finding.FEW_IMAGES:
        return Text.counted(
            "{count} image without slice positions: too few for a cross-sectional series.",
            "{count} images without slice positions: too few for a cross-sectional series.",
            count)
    if note.finding is Finding.MISSING_INSTANCES:
        return Text.counted("{count} image missing: gaps in the instance numbers.",
                            "{count} images missing: gaps in the instance numbers.", count)
    if note.finding is Finding.SLICE_GAPS:
        return Text.counted("{count} slice missing: gaps in the slice positions.",
                            "{count} slices missing: gaps in the slice positions.", count)
    if note.finding is Finding.DUPLICATE_POSITIONS:
        return Text.counted("{count} image repeats a slice position already present.",
                            "{count} images repeat slice positions already present.", count)
    return None


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

    def imaging(self, documents: Iterable[DocumentLine]) -> list[SeriesLine]:
        """Each imaging series of the case with its diagnostic-quality verdict, explained."""
        dicom = [(d.id, d.inspection) for d in documents if d.is_dicom and d.valid]
        verdicts = assess_inspections(info for _, info in dicom)
        lines = []
        for uid, members in series_documents(dicom).items():
            verdict = verdicts.get(uid)
            if verdict is None:
                continue
            info = members[0][1]
            label = modality_text([verdict.modality] if verdict.modality else [])
            name = self.text(label) if isinstance(label, Text) else verdict.modality or ""
            when = info.get("study_date")
            try:
                day = self.formats.day(date.fromisoformat(when)) if when else ""
            except ValueError:
                day = ""
            preview = middle_instance(members) if verdict.category is not Category.REPORT \
                else None
            preview_info = dict(next((i for d, i in members if d == preview), {}))
            images = Text.counted("{count} image", "{count} images",
                                  verdict.images or len(members))
            lines.append(SeriesLine(
                title=f"{name} \u00b7 {day}" if day else name,
                images=self.text(images),
                verdict=self.text(Text(_CATEGORY_LABELS[verdict.category])),
                diagnostic=verdict.diagnostic,
                notes=tuple(self.text(t) for t in map(self._finding, verdict.notes)),
                preview_id=preview,
                has_preview=preview is not None and preview_info.get("preview") != "none",
            ))
        return lines

    @staticmethod
    def _finding(note: Note) -> Text:
        return _counted_finding(note) or Text(_FINDINGS[note.finding])

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

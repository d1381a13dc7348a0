"""What the family is told about its case: confirmation, checklist, status, prices."""

from __future__ import annotations

from collections.abc import Mapping

from bot.i18n.render import Renderer, isolate
from intake.case import CaseStatus, status_label
from intake.checklist import checklist_for
from intake.pricing import PricedService, PriceRange, default_table, quote, quote_reason
from intake.prompts import Lines, Prompt, Running, Text
from intake.routing import RouteKind, Routing, specialty_label
from intake.vocabulary import Service
from storage.tables import Case


class CaseReplies:
    """Builds the prompts about a case; prices are formatted in the family's language."""

    def submitted(
        self, case: Case, routing: Routing, answers: Mapping[str, object], renderer: Renderer,
        lang: str, link: str,
    ) -> list[Prompt]:
        """The confirmation after the family sends its request."""
        reference = isolate(case.reference, lang)
        prompts = [
            Prompt(Text.of(
                "Thank you! Your request is registered under the reference {reference}. "
                "A coordinator will confirm it within 24 hours.", reference=reference)),
            Prompt(self._routing_text(routing)),
        ]
        items = checklist_for(answers)
        lines = tuple(
            Text.of("\u2022 {label} \u2014 {hint}", label=item.label, hint=item.hint)
            if item.required
            else Text.of("\u2022 {label} (optional) \u2014 {hint}", label=item.label,
                         hint=item.hint)
            for item in items
        )
        prompts.append(Prompt(Text.of(
            "To prepare your file, the specialists need these documents:\n{items}",
            items=Lines(lines))))
        prompts.append(Prompt(Text.of(
            "Send them through your personal secure upload link (valid for 14 days; large "
            "scans, whole CD/DVD folders and ZIP files are welcome):\n{link}\nYou can also "
            "send photos or PDF files here in the chat. Write \u201cnew link\u201d at any "
            "time to get a new link.", link=link)))
        service = answers.get("service")
        if isinstance(service, str):
            ranges = quote(routing, Service(service))
            reason = quote_reason(routing, Service(service))
            lines = Lines(self._price_lines(ranges, renderer, lang))
            prompts.append(Prompt(
                Text.of(
                    "Indicative price for the service you chose:\n{lines}\nYour coordinator "
                    "confirms the exact amount before any work starts.", lines=lines)
                if reason is None else
                Text.of(
                    "Indicative price:\n{lines}\n{reason} Your coordinator confirms the exact "
                    "amount before any work starts.", lines=lines, reason=reason)))
        return prompts

    def _routing_text(self, routing: Routing) -> Text:
        reviewers = tuple(specialty_label(key) for key in routing.specialties)
        if routing.kind is RouteKind.TUMOUR_BOARD:
            text = Text.of(
                "Your case will be discussed by a multidisciplinary tumour board ({reviewers}), "
                "within 7 working days once your file is complete.", reviewers=reviewers)
        elif routing.kind is RouteKind.CO_REVIEW:
            text = Text.of(
                "Your file will be reviewed jointly by {reviewers}. The written opinion usually "
                "follows 48 to 96 hours after your file is complete.", reviewers=reviewers)
        else:
            text = Text.of(
                "Your file will be reviewed by {reviewers}. The written opinion usually "
                "follows 48 to 96 hours after your file is complete.", reviewers=reviewers)
        if routing.urgent:
            return Text.of(
                "{routing} Because the situation may be urgent, we aim to offer a video "
                "consultation within 24 to 48 hours after your file is complete.",
                routing=text)
        return text

    def _price_lines(
        self, ranges: list[PriceRange], renderer: Renderer, lang: str
    ) -> tuple[Text, ...]:
        return tuple(
            Text.of("\u2022 {service}: {price}", service=r.label,
                    price=renderer.price_range(r.low, r.high, r.currency, lang))
            for r in ranges
        )

    def prices(self, renderer: Renderer, lang: str) -> Prompt:
        """The published price list."""
        table = default_table()
        ranges = [table.price(key) for key in PricedService]
        return Prompt(Text.of(
            "Our published prices (2026):\n{lines}\nThe exact amount depends on your case and "
            "is confirmed by your coordinator.",
            lines=Lines(self._price_lines(ranges, renderer, lang))))

    def status(self, case: Case) -> Prompt:
        """Where the family's case stands."""
        return Prompt(Text.of(
            "Your request {reference}: {status}.",
            reference=isolate(case.reference, case.language),
            status=Running(status_label(CaseStatus(case.status)))))

    def new_link(self, link: str, lang: str) -> Prompt:
        """A fresh upload link (the previous one no longer works). Links stand alone on
        their line, without bidi isolates, which messaging apps would take into the URL."""
        return Prompt(Text.of(
            "Here is your new secure upload link (valid for 14 days; the previous one no "
            "longer works):\n{link}", link=link))

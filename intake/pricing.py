"""The published price ranges and which of them apply to a case.

The numbers live in `intake/prices.toml` (configuration, shipped with the package; an operator
may point `PriceTable.load` at another file); the translatable labels and timelines live here,
so Babel can extract them. Amounts are `Decimal`; formatting belongs to the i18n layer.

What `quote` lists, given the routing and the service the family chose:

* written opinion only: the tumour board when the case goes to the board, else the written
  opinion on file review;
* written opinion with video consultation: the complete remote package for a co-review (two
  specialists plus the consultation), otherwise the review above plus the video consultation;
* in-person consultation: the tumour board first when the case goes to the board, then the
  in-person consultation.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from types import MappingProxyType

from intake.errors import PriceTableError
from intake.prompts import N_, Text
from intake.routing import RouteKind, Routing
from intake.vocabulary import Service

__all__ = [
    "PriceRange",
    "PriceTable",
    "PricedService",
    "default_table",
    "quote",
    "quote_reason",
    "quote_total",
]


class PricedService(StrEnum):
    """The services that carry a published price; keys of `prices.toml`."""

    WRITTEN_OPINION = "written_opinion"
    TUMOUR_BOARD = "tumour_board"
    VIDEO_CONSULTATION = "video_consultation"
    IN_PERSON_CONSULTATION = "in_person_consultation"
    REMOTE_PACKAGE = "remote_package"


_LABELS: dict[PricedService, str] = {
    PricedService.WRITTEN_OPINION: N_("Written opinion on file review"),
    PricedService.TUMOUR_BOARD: N_("Multidisciplinary tumour board opinion"),
    PricedService.VIDEO_CONSULTATION: N_("Video consultation (30–45 minutes)"),
    PricedService.IN_PERSON_CONSULTATION: N_("In-person consultation in Belgium"),
    PricedService.REMOTE_PACKAGE: N_("Complete remote package"),
}


@dataclass(frozen=True)
class PriceRange:
    """One published price range, with its label and, where published, its timeline."""

    service_key: PricedService
    low: Decimal
    high: Decimal
    label: Text
    currency: str = "EUR"
    timeline: Text | None = None


def _amount(raw: object, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise PriceTableError(f"{where}: amounts are integers or decimal strings, not {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise PriceTableError(f"{where}: {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise PriceTableError(f"{where}: {raw!r} is not a price")
    return value


def _pair(raw: object, where: str) -> tuple[int, int]:
    if (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in raw)
        and raw[0] <= raw[1]
    ):
        return raw[0], raw[1]
    raise PriceTableError(f"{where}: expected [shortest, longest] hours, got {raw!r}")


def _timeline(entry: Mapping[str, object], urgent: bool, where: str) -> Text | None:
    hours = entry.get("urgent_timeline_hours") if urgent else None
    if hours is None:
        hours = entry.get("timeline_hours")
    if hours is not None:
        low, high = _pair(hours, where)
        return Text.counted(
            # TRANSLATORS: when the opinion arrives; {low} and {count} are numbers of hours.
            "from {low} to {count} hour after the file is complete",
            "from {low} to {count} hours after the file is complete",
            high,
            low=low,
        )
    days = entry.get("timeline_working_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise PriceTableError(f"{where}: timeline_working_days must be a positive integer")
    return Text.counted(
        "within {count} working day of a complete file",
        "within {count} working days of a complete file",
        days,
    )


_KNOWN_FIELDS = frozenset(
    {"low", "high", "timeline_hours", "urgent_timeline_hours", "timeline_working_days"}
)


@dataclass(frozen=True)
class PriceTable:
    """The price list of one year, as configured."""

    year: int
    currency: str
    entries: Mapping[PricedService, Mapping[str, object]]

    @classmethod
    def load(cls, path: str | Traversable | None = None) -> PriceTable:
        """Read the price list: the packaged `prices.toml`, or an operator's file."""
        if path is None:
            path = files("intake").joinpath("prices.toml")
        if isinstance(path, str):
            with open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise PriceTableError(f"price table is not valid TOML: {error}") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PriceTable:
        """Validate parsed configuration, so a bad file fails at start-up, not mid-chat."""
        year, currency, services = data.get("year"), data.get("currency"), data.get("services")
        if not isinstance(year, int) or isinstance(year, bool):
            raise PriceTableError("price table: 'year' must be an integer")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
            raise PriceTableError("price table: 'currency' must be an ISO 4217 code like 'EUR'")
        if not isinstance(services, Mapping):
            raise PriceTableError("price table: missing [services.*] tables")
        unknown = set(services) - set(PricedService)
        missing = set(PricedService) - set(services)
        if unknown or missing:
            raise PriceTableError(
                f"price table: unknown services {sorted(unknown)}, missing {sorted(missing)}"
            )
        entries: dict[PricedService, Mapping[str, object]] = {}
        for key in PricedService:
            entry = services[key.value]
            if not isinstance(entry, Mapping):
                raise PriceTableError(f"price table: [services.{key}] must be a table")
            extra = set(entry) - _KNOWN_FIELDS
            if extra:
                raise PriceTableError(f"price table: [services.{key}] has unknown {sorted(extra)}")
            low = _amount(entry.get("low"), f"services.{key}.low")
            high = _amount(entry.get("high"), f"services.{key}.high")
            if low > high:
                raise PriceTableError(f"price table: services.{key}: low is above high")
            _timeline(entry, urgent=False, where=f"services.{key}")
            _timeline(entry, urgent=True, where=f"services.{key}")
            entries[key] = MappingProxyType(dict(entry))
        return cls(year, currency, MappingProxyType(entries))

    def price(self, key: PricedService | str, *, urgent: bool = False) -> PriceRange:
        """One service's range; `urgent` selects the urgent timeline where one is published."""
        service = PricedService(key)
        entry = self.entries[service]
        return PriceRange(
            service_key=service,
            low=_amount(entry["low"], service),
            high=_amount(entry["high"], service),
            label=Text(_LABELS[service]),
            currency=self.currency,
            timeline=_timeline(entry, urgent, service),
        )

    def quote(self, routing: Routing, service: Service | str) -> list[PriceRange]:
        """The ranges that apply to this case and the service the family chose."""
        chosen = Service(service)
        board = routing.kind is RouteKind.TUMOUR_BOARD
        review = PricedService.TUMOUR_BOARD if board else PricedService.WRITTEN_OPINION
        keys: list[PricedService]
        if chosen is Service.WRITTEN:
            keys = [review]
        elif chosen is Service.WRITTEN_VIDEO:
            if routing.kind is RouteKind.CO_REVIEW:
                keys = [PricedService.REMOTE_PACKAGE]
            else:
                keys = [review, PricedService.VIDEO_CONSULTATION]
        else:
            keys = [PricedService.IN_PERSON_CONSULTATION]
            if board:
                keys.insert(0, PricedService.TUMOUR_BOARD)
        return [self.price(key, urgent=routing.urgent) for key in keys]


@cache
def default_table() -> PriceTable:
    """The packaged price list, read once on first use (never at import)."""
    return PriceTable.load()


def quote_reason(routing: Routing, service: Service | str) -> Text | None:
    """Why the quote names a service other than the one the family chose, when it does: the
    routing (a tumour board, a co-review) decides what the review costs."""
    chosen = Service(service)
    if routing.kind is RouteKind.TUMOUR_BOARD:
        return Text.of(
            "Your case will be discussed by a multidisciplinary tumour board, so the review "
            "is priced as a tumour board opinion."
        )
    if routing.kind is RouteKind.CO_REVIEW and chosen is Service.WRITTEN_VIDEO:
        return Text.of(
            "Your file will be reviewed jointly by two specialists, so the written opinion "
            "and the video consultation are priced together as the complete remote package."
        )
    return None


def quote(
    routing: Routing, service: Service | str, table: PriceTable | None = None
) -> list[PriceRange]:
    """The ranges to quote for a case; uses the packaged price list unless given another."""
    return (table or default_table()).quote(routing, service)


def quote_total(ranges: Iterable[PriceRange]) -> tuple[Decimal, Decimal]:
    """The lowest and highest total of several ranges, for "in total between X and Y"."""
    items = list(ranges)
    currencies = {r.currency for r in items}
    if len(currencies) > 1:
        raise PriceTableError(f"cannot add amounts in {sorted(currencies)}")
    return sum((r.low for r in items), Decimal(0)), sum((r.high for r in items), Decimal(0))

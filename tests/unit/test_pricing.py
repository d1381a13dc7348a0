"""The published price ranges: configuration data, quoted per routing and service."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from intake.errors import PriceTableError
from intake.pricing import PricedService, PriceTable, default_table, quote, quote_total
from intake.prompts import Text
from intake.routing import Reviewer, RouteKind, Routing
from intake.vocabulary import Service

PUBLISHED = {
    "written_opinion": ("350", "650"),
    "tumour_board": ("700", "1200"),
    "video_consultation": ("200", "350"),
    "in_person_consultation": ("220", "380"),
    "remote_package": ("800", "1800"),
}


def routing(kind: RouteKind = RouteKind.SINGLE_SPECIALIST, *, urgent: bool = False) -> Routing:
    return Routing(kind, (Reviewer.CARDIOLOGY,), False, urgent, Text.of("test"))


def keys(ranges: list[Any]) -> list[str]:
    return [r.service_key for r in ranges]


def config(**service_overrides: dict[str, object]) -> dict[str, object]:
    services: dict[str, object] = {
        key: {"low": int(low), "high": int(high)} for key, (low, high) in PUBLISHED.items()
    }
    services.update(service_overrides)
    return {"year": 2026, "currency": "EUR", "services": services}


@pytest.mark.parametrize(("key", "bounds"), PUBLISHED.items())
def test_the_packaged_table_holds_the_published_2026_ranges(
    key: str, bounds: tuple[str, str]
) -> None:
    table = PriceTable.load()
    price = table.price(key)
    assert (price.low, price.high) == (Decimal(bounds[0]), Decimal(bounds[1]))
    assert price.currency == "EUR"
    assert isinstance(price.low, Decimal)
    assert table.year == 2026


def test_every_priced_service_has_an_english_label() -> None:
    labels = {default_table().price(key).label.msgid for key in PricedService}
    assert len(labels) == len(PricedService)
    assert default_table().price("written_opinion").label.msgid == (
        "Written opinion on file review"
    )


def test_a_written_opinion_is_quoted_for_a_single_specialist() -> None:
    assert keys(quote(routing(), Service.WRITTEN)) == ["written_opinion"]


def test_the_tumour_board_replaces_the_written_opinion_when_routed_to_the_board() -> None:
    assert keys(quote(routing(RouteKind.TUMOUR_BOARD), "written")) == ["tumour_board"]


def test_written_with_video_quotes_both_parts() -> None:
    assert keys(quote(routing(), Service.WRITTEN_VIDEO)) == [
        "written_opinion",
        "video_consultation",
    ]
    assert keys(quote(routing(RouteKind.TUMOUR_BOARD), Service.WRITTEN_VIDEO)) == [
        "tumour_board",
        "video_consultation",
    ]


def test_a_co_review_with_video_is_the_complete_remote_package() -> None:
    assert keys(quote(routing(RouteKind.CO_REVIEW), Service.WRITTEN_VIDEO)) == ["remote_package"]


def test_in_person_consultation_adds_the_board_when_routed_to_it() -> None:
    assert keys(quote(routing(), Service.IN_PERSON)) == ["in_person_consultation"]
    assert keys(quote(routing(RouteKind.TUMOUR_BOARD), Service.IN_PERSON)) == [
        "tumour_board",
        "in_person_consultation",
    ]


def test_timelines_follow_the_published_service_levels() -> None:
    written = default_table().price("written_opinion").timeline
    board = default_table().price("tumour_board").timeline
    assert written is not None and dict(written.params) == {"low": 48, "count": 96}
    assert board is not None and dict(board.params) == {"count": 7}


def test_an_urgent_video_consultation_carries_the_24_to_48_hour_timeline() -> None:
    ranges = quote(routing(urgent=True), Service.WRITTEN_VIDEO)
    video = ranges[-1].timeline
    assert video is not None and dict(video.params) == {"low": 24, "count": 48}
    assert quote(routing(), Service.WRITTEN_VIDEO)[-1].timeline is None


def test_quote_total_adds_the_low_and_high_ends() -> None:
    ranges = quote(routing(), Service.WRITTEN_VIDEO)
    assert quote_total(ranges) == (Decimal(550), Decimal(1000))
    assert quote_total([]) == (Decimal(0), Decimal(0))


def test_an_operator_file_overrides_the_packaged_prices(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "intake" / "prices.toml").read_text("utf-8")
    custom = tmp_path / "prices.toml"
    custom.write_text(text.replace("low = 350", 'low = "375.50"'), "utf-8")
    for path in (str(custom), custom):
        table = PriceTable.load(path)
        assert table.price("written_opinion").low == Decimal("375.50")
        assert keys(quote(routing(), "written", table)) == ["written_opinion"]


def test_a_missing_service_is_refused() -> None:
    data = config()
    services = data["services"]
    assert isinstance(services, dict)
    del services["remote_package"]
    with pytest.raises(PriceTableError, match="remote_package"):
        PriceTable.from_mapping(data)


@pytest.mark.parametrize(
    "entry",
    [
        {"low": 650, "high": 350},
        {"low": 350.5, "high": 650},
        {"low": "cheap", "high": 650},
        {"low": -1, "high": 650},
        {"low": 350},
        {"low": 350, "high": 650, "discount": 10},
        {"low": 350, "high": 650, "timeline_hours": [96, 48]},
        {"low": 350, "high": 650, "timeline_working_days": 0},
    ],
)
def test_a_malformed_entry_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(PriceTableError):
        PriceTable.from_mapping(config(written_opinion=entry))


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(PriceTableError, match="massage"):
        PriceTable.from_mapping(config(massage={"low": 1, "high": 2}))


def test_invalid_toml_is_a_price_table_error(tmp_path: Path) -> None:
    broken = tmp_path / "prices.toml"
    broken.write_text("year = = 2026", "utf-8")
    with pytest.raises(PriceTableError):
        PriceTable.load(broken)


def test_a_bad_currency_code_is_refused() -> None:
    data = config()
    data["currency"] = "euro"
    with pytest.raises(PriceTableError):
        PriceTable.from_mapping(data)

"""The channel rules: WhatsApp's 24-hour window and the templates that cross it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.messaging.policy import TemplateConfig, whatsapp_delivery, within_window

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HX_EN = "HX" + "a" * 32
HX_FR = "HX" + "b" * 32
TEMPLATES = TemplateConfig.from_env(
    {"TWILIO_TEMPLATE_REMINDER_EN": HX_EN, "TWILIO_TEMPLATE_REMINDER_FR": HX_FR}
)
REMINDER = {"template": "reminder", "variables": {"1": "SO-ABC234"}}


def test_a_family_that_wrote_an_hour_ago_is_inside_the_window() -> None:
    assert within_window(NOW - timedelta(hours=1), NOW)


def test_a_family_that_wrote_25_hours_ago_is_outside_the_window() -> None:
    assert not within_window(NOW - timedelta(hours=25), NOW)


def test_the_window_closes_a_little_early_rather_than_late() -> None:
    assert not within_window(NOW - timedelta(hours=23, minutes=59), NOW)
    assert within_window(NOW - timedelta(hours=23, minutes=50), NOW)


def test_a_family_that_never_wrote_is_outside_the_window() -> None:
    assert not within_window(None, NOW)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        within_window(datetime(2026, 3, 2, 11, 0), NOW)  # noqa: DTZ001


def test_templates_are_read_per_kind_and_language_from_the_environment() -> None:
    config = TemplateConfig.from_env({
        "TWILIO_TEMPLATE_REMINDER_EN": HX_EN,
        "TWILIO_TEMPLATE_MISSING_DOCUMENTS_FR": HX_FR,
        "TWILIO_TEMPLATE_EMPTY_NL": "  ",
        "PATH": "/usr/bin",
    })
    assert config.sids == {("reminder", "en"): HX_EN, ("missing_documents", "fr"): HX_FR}


@pytest.mark.parametrize("name, value", [
    ("TWILIO_TEMPLATE_REMINDER_EN", "not-a-sid"),
    ("TWILIO_TEMPLATE_REMINDER_EN", "HX123"),
    ("TWILIO_TEMPLATE_REMINDER", HX_EN),
    ("TWILIO_TEMPLATE__EN", HX_EN),
])
def test_a_misconfigured_template_stops_the_start(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        TemplateConfig.from_env({name: value})


def test_the_family_language_template_wins_and_english_is_the_fallback() -> None:
    assert TEMPLATES.content_sid("reminder", "fr") == HX_FR
    assert TEMPLATES.content_sid("reminder", "ar") == HX_EN
    assert TEMPLATES.content_sid("payment", "fr") is None


def test_inside_the_window_a_reminder_goes_out_as_typed() -> None:
    plan = whatsapp_delivery(NOW - timedelta(hours=2), NOW, REMINDER, "fr", TEMPLATES)
    assert plan.mode == "free_form"


def test_outside_the_window_a_reminder_goes_out_as_its_template() -> None:
    plan = whatsapp_delivery(NOW - timedelta(days=3), NOW, REMINDER, "fr", TEMPLATES)
    assert plan.mode == "template"
    assert plan.content_sid == HX_FR
    assert plan.variables == {"1": "SO-ABC234"}


def test_outside_the_window_a_message_without_template_is_held() -> None:
    plan = whatsapp_delivery(NOW - timedelta(days=3), NOW, {}, "fr", TEMPLATES)
    assert plan.mode == "hold"
    assert "24-hour" in plan.reason


def test_outside_the_window_an_unconfigured_template_is_held() -> None:
    plan = whatsapp_delivery(NOW - timedelta(days=3), NOW, REMINDER, "fr", TemplateConfig())
    assert plan.mode == "hold"


def test_template_variables_are_strings_as_twilio_expects() -> None:
    extra = {"template": "reminder", "variables": {1: 42, "2": None}}
    plan = whatsapp_delivery(None, NOW, extra, "en", TEMPLATES)
    assert plan.variables == {"1": "42", "2": ""}

"""Small readers of the case's second half: dates of birth typed by families, SMTP_URL."""

from __future__ import annotations

from datetime import date

import pytest

from bot.journey.doctor import TITLE, SmtpServer, address_of
from bot.web.opinion import parse_birth_date


@pytest.mark.parametrize("typed", ["14/05/2015", "14.05.2015", "14-5-2015", "2015-05-14",
                                   " 14 05 2015 "])
def test_a_date_of_birth_is_read_day_first_or_iso(typed: str) -> None:
    assert parse_birth_date(typed) == date(2015, 5, 14)


@pytest.mark.parametrize("typed", ["", "31/02/2015", "05/14/2015", "14 May 2015", "2015"])
def test_impossible_or_ambiguous_dates_are_not_read(typed: str) -> None:
    assert parse_birth_date(typed) is None


def test_smtp_urls_require_encryption_except_to_a_relay_on_this_machine() -> None:
    remote = SmtpServer.parse("smtp://team%40clinic.example:s3cr%2Ft@mail.example:587")
    assert (remote.host, remote.port, remote.username, remote.password) == (
        "mail.example", 587, "team@clinic.example", "s3cr/t")
    assert remote.require_starttls and not remote.implicit_tls
    tls = SmtpServer.parse("smtps://mail.example")
    assert tls.implicit_tls and tls.port == 465 and not tls.require_starttls
    assert not SmtpServer.parse("smtp://127.0.0.1:2525").require_starttls
    with pytest.raises(ValueError):
        SmtpServer.parse("http://mail.example")


def test_a_doctor_address_is_found_in_what_the_family_typed() -> None:
    assert address_of("Dr Alami, k.alami@example.org, +212 5") == "k.alami@example.org"
    assert address_of("+212 522 00 00 00") is None
    assert address_of(None) is None


@pytest.mark.parametrize("typed", ["Dr Karim Alami", "Dr. Karim Alami", "doctor Karim Alami",
                                   "Prof. Dr. Karim Alami", "Karim Alami"])
def test_the_doctors_title_typed_by_the_family_is_not_repeated_in_the_greeting(
    typed: str,
) -> None:
    assert TITLE.sub("", typed).strip() == "Karim Alami"

"""WhatsApp text: splitting under Twilio's limit, numbered options, parsing Twilio's form."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from twilio.base.exceptions import TwilioRestException

from bot.channels.base import Outbound, OutOption
from bot.channels.whatsapp import (
    ANSWER_WITH_NUMBER,
    ANSWER_WITH_NUMBERS,
    classify,
    parse_inbound,
    rebase,
    render_text,
    split_text,
)


def units(text: str) -> int:
    """Length as Twilio counts it (UTF-16 code units)."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def split_points(original: str, parts: list[str]) -> list[tuple[int, int]]:
    """Where each part ends and the next begins in the original; asserts that only
    whitespace was dropped, between parts and around them."""
    spans = []
    position = 0
    for part in parts:
        start = position
        if not original.startswith(part, start):
            while start < len(original) and original[start].isspace():
                start += 1
            assert original.startswith(part, start), (part[:30], position)
        spans.append((start, start + len(part)))
        position = start + len(part)
    assert original[position:].strip() == ""
    return [(spans[i][1], spans[i + 1][0]) for i in range(len(spans) - 1)]


def word_around(text: str, index: int) -> str:
    """The whitespace-delimited word that contains the character at `index`."""
    start = index
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = index
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


WORD_CHARS = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyz0123456789/:.-?=&")
    + ["\u00e9", "e\u0301", "\u0627", "\u0436", "\U0001F600", "\U0001F44D\U0001F3FD", "\u4e2d"]
)
WORDS = st.one_of(
    st.lists(WORD_CHARS, min_size=1, max_size=12).map("".join),
    st.builds(lambda path: f"https://upload.example.org/u/{path}",
              st.text("abcdefXYZ0123456789", min_size=1, max_size=40)),
)
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", "  ", "\t", " \n "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Text made of words and URLs, separated by spaces, line and paragraph breaks."""
    words = draw(st.lists(WORDS, min_size=0, max_size=80))
    pieces = [draw(st.sampled_from(["", " ", "\n"]))]
    for word in words:
        pieces.extend([word, draw(SEPARATORS)])
    return "".join(pieces)


@settings(max_examples=400, deadline=None)
@given(text=texts(), limit=st.integers(min_value=2, max_value=120))
def test_every_part_fits_and_nothing_but_whitespace_is_lost(text: str, limit: int) -> None:
    parts = split_text(text, limit)

    assert all(units(part) <= limit for part in parts)
    assert all(part.strip() for part in parts)
    split_points(text, parts)
    if text.strip() and units(text) <= limit:
        assert parts == [text]
    if not text.strip():
        assert parts == []


@settings(max_examples=400, deadline=None)
@given(text=texts(), limit=st.integers(min_value=2, max_value=120))
@example(text=" aa ", limit=2)
def test_no_word_or_url_is_cut_unless_it_alone_is_longer_than_the_limit(
    text: str, limit: int
) -> None:
    parts = split_text(text, limit)

    for end, start in split_points(text, parts):
        if end == start:  # cut without whitespace: inside a word
            assert units(word_around(text, start)) > limit


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(min_value=2, max_value=60))
def test_any_text_at_all_splits_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)

    assert all(units(part) <= limit for part in parts)
    split_points(text, parts)


def test_a_long_reply_is_cut_at_paragraphs_first() -> None:
    first = "First paragraph. " * 60
    second = "Second paragraph with a link https://upload.example.org/u/abcdef. " * 20
    parts = split_text(first.strip() + "\n\n" + second.strip())

    assert parts == [first.strip(), second.strip()]


def test_a_url_at_the_limit_moves_whole_to_the_next_part() -> None:
    url = "https://upload.example.org/u/" + "x" * 40
    text = "a" * 1580 + " " + url + " end"
    parts = split_text(text)

    assert parts == ["a" * 1580, url + " end"]


def test_a_short_text_is_left_exactly_as_it_is() -> None:
    assert split_text("  Hello,\nworld  ") == ["  Hello,\nworld  "]


def test_a_limit_below_two_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("abc", 1)


def outbound(**overrides: object) -> Outbound:
    values: dict[str, object] = {"channel": "whatsapp", "external_id": "whatsapp:+32470000001",
                                 "text": "Which language?"}
    values.update(overrides)
    return Outbound(**values)  # type: ignore[arg-type]


def test_options_are_numbered_and_the_family_is_told_to_answer_with_the_number() -> None:
    message = outbound(options=(OutOption("en", "English"), OutOption("fr", "Français")),
                       locale="fr")
    seen: list[tuple[str, str]] = []

    def translate(lang: str, msgid: str) -> str:
        seen.append((lang, msgid))
        return "Répondez par le numéro de votre choix."

    text = render_text(message, translate)

    assert text == ("Which language?\n\n1. English\n2. Français\n\n"
                    "Répondez par le numéro de votre choix.")
    assert seen == [("fr", ANSWER_WITH_NUMBER)]


def test_a_question_with_several_answers_asks_for_numbers() -> None:
    message = outbound(options=(OutOption("a", "A"), OutOption("b", "B")), multiple=True)

    text = render_text(message, lambda lang, msgid: msgid)

    assert text.endswith(ANSWER_WITH_NUMBERS)


def test_a_message_without_options_is_sent_as_written() -> None:
    assert render_text(outbound(text="Thank you."), lambda lang, msgid: "x") == "Thank you."


def test_an_inbound_message_keeps_the_raw_sender_and_its_media() -> None:
    inbound = parse_inbound({
        "MessageSid": "MM" + "1" * 32, "From": "whatsapp:+905321234567", "Body": "",
        "ProfileName": "Ayşe", "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "MediaContentType0": "application/pdf",
    })

    assert inbound is not None
    assert inbound.channel == "whatsapp"
    assert inbound.external_id == "whatsapp:+905321234567"
    assert inbound.provider_key == "MM" + "1" * 32
    assert inbound.text is None
    assert inbound.display_name == "Ayşe"
    assert inbound.language_hint == "tr"
    assert [(a.ref, a.content_type) for a in inbound.attachments] == [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
         "application/pdf")]


def test_a_business_scoped_user_id_is_an_identity_without_a_language_hint() -> None:
    inbound = parse_inbound({"MessageSid": "SM1", "From": "whatsapp:US.ABC123XYZ",
                             "Body": "Bonjour"})

    assert inbound is not None
    assert inbound.external_id == "whatsapp:US.ABC123XYZ"
    assert inbound.language_hint is None


def test_a_tapped_quick_reply_is_a_choice() -> None:
    inbound = parse_inbound({"MessageSid": "SM2", "From": "whatsapp:+32470000001",
                             "Body": "Yes", "ButtonText": "Yes", "ButtonPayload": "yes"})

    assert inbound is not None
    assert inbound.choice == "yes"


def test_a_quick_reply_without_payload_is_read_as_its_text() -> None:
    inbound = parse_inbound({"MessageSid": "SM3", "From": "whatsapp:+32470000001",
                             "ButtonText": "Stop reminders"})

    assert inbound is not None
    assert inbound.text == "Stop reminders"
    assert inbound.choice is None


@pytest.mark.parametrize("form", [
    {"From": "whatsapp:+32470000001", "Body": "hi"},
    {"MessageSid": "SM4", "Body": "hi"},
    {"MessageSid": " ", "From": "whatsapp:+32470000001"},
])
def test_a_form_without_message_sid_or_sender_is_not_a_message(form: dict[str, str]) -> None:
    assert parse_inbound(form) is None


def test_a_garbled_media_count_means_no_media() -> None:
    inbound = parse_inbound({"MessageSid": "SM5", "From": "whatsapp:+1", "NumMedia": "x"})

    assert inbound is not None and inbound.attachments == ()


def test_every_twilio_domain_is_sent_to_the_configured_server() -> None:
    assert rebase(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=5",
        "http://127.0.0.1:8099",
    ) == "http://127.0.0.1:8099/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    assert rebase("https://content.twilio.com/v1/Content", "https://proxy.example.org/tw/") == (
        "https://proxy.example.org/tw/v1/Content"
    )


@pytest.mark.parametrize("status, code, expected", [
    (429, 20429, "retry"),
    (500, 500, "retry"),
    (503, 503, "retry"),
    (401, 20003, "retry"),
    (400, 21610, "blocked"),
    (400, 63016, "hold"),
    (400, 63024, "permanent"),
    (400, 21211, "permanent"),
    (404, 20404, "permanent"),
])
def test_twilio_errors_are_retried_held_or_final(status: int, code: int, expected: str) -> None:
    error = classify(TwilioRestException(status, "/Messages.json", "boom", code, "POST"))

    outcome = ("blocked" if error.blocked else "hold" if error.hold
               else "permanent" if error.permanent else "retry")
    assert outcome == expected
    assert str(code) in error.reason and "boom" not in error.reason

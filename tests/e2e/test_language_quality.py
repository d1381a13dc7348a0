"""A relative's whole intake in each language, read the way the native reviewers read it:
typography, labels inside sentences, the family's own command words, each of them answered."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer, running_case
from bot.settings import Settings
from intake.commands import Command, command_help, command_word, slash_name
from intake.prompts import Text
from intake.routing import specialty_label
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.test_six_languages import LOCALES, TYPED, script
from tests.e2e.test_webchat_intake import start_server
from tests.e2e.upload_client import link_for, start, submit_case


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests type every command in a row, faster than any family: lift the
    per-address message limit (its own attack tests are in tests/security)."""
    return settings.with_overrides(messages_per_minute=10_000)

RENDERER = Renderer(Catalogs())
ENGLISH_WORDS = [command_word(command, "en") for command in Command]
UNKNOWN = "We do not recognise the command {command}. Write “{help}” or /help to see the commands."
ADDED_TO_FILE = "Thank you, your message has been added to your file. A coordinator will read it."
# A child's heart surgery question goes to a co-review by these two.
CO_REVIEWERS = ("paediatric_cardiology", "paediatric_cardiac_surgery")


def without_typed(transcript: str, lang: str) -> str:
    """The service's own words: what the family typed is echoed in the summary as typed."""
    for value in TYPED[lang].values():
        transcript = transcript.replace(value, "")
    return transcript


async def whole_intake(base: str, lang: str) -> tuple[ChatFamily, list[dict[str, Any]]]:
    """A mother's intake for her daughter, confirmed; the family and every reply."""
    family = await ChatFamily.open(base, accept_language=lang)
    replies = await family.replies()
    for how, value in script(lang):
        replies += await (family.tap(value) if how == "tap" else family.say(value))
    replies += await family.tap("confirm")
    return family, replies


@pytest.mark.parametrize("lang", LOCALES)
async def test_a_relatives_intake_follows_the_languages_typography_and_casing(
    settings: Settings, lang: str
) -> None:
    server, base = await start_server(settings)
    try:
        family, replies = await whole_intake(base, lang)
        await family.close()
    finally:
        await server.close()
    transcript = without_typed(texts(replies), lang)

    urgency = Text.of(
        "Does any of these apply to the patient's situation? You may choose several."
    )
    assert RENDERER.text(urgency, lang) in transcript
    if lang == "fr":
        assert not re.search(r" [:;!?»]", transcript), re.findall(r".{20} [:;!?»]", transcript)
        assert not re.search(r"«[^\u00a0]", transcript)
        assert not re.search(r"[\w)][:;!?](?=\s|$)", transcript), re.findall(
            r".{20}[\w)][:;!?](?=\s|$)", transcript)
    if lang == "ru":
        assert not re.search(r"\d [а-яё]", transcript), re.findall(r".{20}\d [а-яё]+", transcript)
        assert "№ " not in transcript
    for key in CO_REVIEWERS:
        label = RENDERER.text(specialty_label(key), lang)
        inside = running_case(label, lang)
        assert inside in transcript, (lang, inside)
        if inside != label:
            assert not re.search(rf"[(,:]\s*{re.escape(label)}", transcript), (lang, label)
    reason = Text.of(
        "Your file will be reviewed jointly by two specialists, so the written opinion and the "
        "video consultation are priced together as the complete remote package."
    )
    assert RENDERER.text(reason, lang) in transcript


@pytest.mark.parametrize("lang", LOCALES)
async def test_every_command_the_help_lists_is_answered_as_a_command(
    settings: Settings, lang: str
) -> None:
    server, base = await start_server(settings)
    family, _ = await whole_intake(base, lang)
    try:
        help_text = texts(await family.say(command_word(Command.HELP, lang)))
        listed = [(command_word(c, lang), f"/{slash_name(c)}") for c, _ in command_help()]
        for word, slash in listed:
            assert word in help_text and slash in help_text, (lang, word, slash)
        if lang != "en":
            own_words = re.sub(r"/\w+", "", help_text).lower()
            for english in ENGLISH_WORDS:
                assert not re.search(rf"\b{re.escape(english)}\b", own_words), (lang, english)
        unknown = RENDERER.text(Text.of(UNKNOWN, command="\x00", help="\x00"), lang)
        not_a_command = RENDERER.text(Text.of(ADDED_TO_FILE), lang)
        for typed in [form for pair in listed for form in pair]:
            answer = texts(await family.say(typed))
            assert answer, (lang, typed)
            assert max(unknown.split("\x00"), key=len) not in answer, (lang, typed, answer)
            assert not_a_command not in answer, (lang, typed, answer)
    finally:
        await family.close()
        await server.close()


@pytest.mark.parametrize("lang", LOCALES)
async def test_the_chat_says_an_automated_assistant_is_writing(
    settings: Settings, lang: str
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base, accept_language=lang)
    try:
        page = await (await family.session.get(f"{base}/chat")).text()
        greeting = texts(await family.replies())
    finally:
        await family.close()
        await server.close()
    label = RENDERER.text(Text.of("Our automated assistant is writing…"), lang)
    assert label in page
    hello = RENDERER.text(Text.of(
        "Hello! We help families obtain a second medical opinion from specialists of Belgian "
        "university hospitals. You are writing to our automated assistant; our medical "
        "coordinators read this conversation and take over whenever needed."), lang)
    assert hello in greeting


async def test_the_upload_page_shows_optional_documents_as_optional_never_missing(
    settings: Settings,
) -> None:
    server, base = await start(settings)
    family = await ChatFamily.open(base)
    try:
        await submit_case(family, settings.database_url)
        link = await link_for(settings.database_url, base)
        page = await (await family.session.get(link)).text()
    finally:
        await family.close()
        await server.close()
    items = []
    for block in page.split('<li class="checklist__item')[1:]:
        required = re.search(r'data-required="(true|false)"', block)
        label = re.search(r'checklist__label">(.*?)</span>\s*<span class="checklist__state',
                          block, re.DOTALL)
        state = re.search(r'checklist__state[^>]*>(.*?)</span>', block)
        assert required and label and state, block
        items.append((required.group(1), label.group(1), state.group(1)))
    assert {required for required, _, _ in items} == {"true", "false"}
    for required, label, state in items:
        if state == "Received":
            continue
        if required == "false":
            assert "(optional)" in label and state == "Optional, not received", (label, state)
        else:
            assert "(optional)" not in label and state == "Not received yet", (label, state)
    assert "Missing" not in page

"""Telegram updates become Inbound events; keyboards carry choices; errors steer the outbox."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.base import Inbound, OutOption
from bot.channels.telegram import (
    SELECTED,
    answered,
    channel_error,
    file_base_url,
    keyboard,
    parse_callback_data,
    parse_update,
    selected_keys,
    split_text,
    toggled,
    utf16_length,
)

BOT_ID = 123
CHAT = 4242


def user(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"id": CHAT, "is_bot": False, "first_name": "Amira",
                              "last_name": "Benali", "language_code": "fr-BE"}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def message(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"message_id": 7, "date": 1_760_000_000, "from": user(),
                              "chat": {"id": CHAT, "type": "private", "first_name": "Amira"}}
    values.update(fields)
    return values


def update(update_id: int = 900, **fields: Any) -> Update:
    return Update.de_json({"update_id": update_id, **fields}, None)


def parse(**fields: Any) -> Inbound | None:
    return parse_update(update(**fields), BOT_ID)


def markup_json(markup: InlineKeyboardMarkup | None) -> dict[str, Any]:
    assert markup is not None
    return markup.to_dict()


def tap(data: str, markup: InlineKeyboardMarkup | None = None) -> Inbound | None:
    bot_message = message(**{"from": {"id": BOT_ID, "is_bot": True, "first_name": "Intake"}},
                          text="Which?")
    if markup is not None:
        bot_message["reply_markup"] = markup.to_dict()
    return parse(callback_query={"id": "q1", "from": user(), "chat_instance": "ci",
                                 "message": bot_message, "data": data})


OPTIONS = (OutOption("cardiac", "A heart problem"), OutOption("none", "None of these"))


def test_a_typed_message_becomes_text_with_the_chat_the_first_name_and_a_language_hint() -> None:
    inbound = parse(message=message(text="Hello"))

    assert inbound == Inbound(
        channel="telegram", external_id=str(CHAT), provider_key=f"{BOT_ID}:900", text="Hello",
        display_name="Amira", language_hint="fr",
    )


def test_the_last_name_never_reaches_the_inbound() -> None:
    inbound = parse(message=message(text="Hi"))

    assert inbound is not None
    assert "Benali" not in repr(inbound.to_payload())


def test_a_language_we_do_not_speak_gives_no_hint() -> None:
    inbound = parse(message=message(text="Hallo", **{"from": user(language_code="de")}))

    assert inbound is not None and inbound.language_hint is None


def test_start_with_a_deep_link_payload_starts_the_conversation() -> None:
    inbound = parse(message=message(text="/start case-AB12_x"))

    assert inbound is not None
    assert inbound.start and inbound.start_payload == "case-AB12_x" and inbound.text is None


@pytest.mark.parametrize("text", ["/start", "/start@intake_test_bot", " /start "])
def test_start_without_a_payload_starts_without_one(text: str) -> None:
    inbound = parse(message=message(text=text))

    assert inbound is not None and inbound.start and inbound.start_payload is None


def test_a_start_payload_that_no_deep_link_could_carry_is_dropped() -> None:
    inbound = parse(message=message(text="/start hello there, <b>"))

    assert inbound is not None and inbound.start and inbound.start_payload is None


def test_other_slash_commands_stay_text_for_the_command_matcher() -> None:
    inbound = parse(message=message(text="/help"))

    assert inbound is not None and inbound.text == "/help" and not inbound.start


def test_a_document_becomes_an_attachment_with_its_caption_as_text() -> None:
    document = {"file_id": "F1", "file_unique_id": "U1", "file_name": "report.pdf",
                "mime_type": "application/pdf", "file_size": 1234}
    inbound = parse(message=message(document=document, caption="MRI report"))

    assert inbound is not None and inbound.text == "MRI report"
    (attachment,) = inbound.attachments
    assert (attachment.ref, attachment.filename, attachment.content_type, attachment.size) == (
        "F1", "report.pdf", "application/pdf", 1234)


def test_a_photo_is_taken_at_its_largest_size() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 60, "file_size": 900},
        {"file_id": "large", "file_unique_id": "c", "width": 1280, "height": 853,
         "file_size": 90_000},
        {"file_id": "mid", "file_unique_id": "b", "width": 320, "height": 213,
         "file_size": 9_000},
    ]
    inbound = parse(message=message(photo=sizes))

    assert inbound is not None and inbound.text is None
    (attachment,) = inbound.attachments
    assert attachment.ref == "large" and attachment.content_type == "image/jpeg"
    assert attachment.size == 90_000


def test_a_sticker_is_stored_empty_so_the_bot_asks_again_in_words() -> None:
    sticker = {"file_id": "S", "file_unique_id": "s", "width": 512, "height": 512,
               "is_animated": False, "is_video": False, "type": "regular"}
    inbound = parse(message=message(sticker=sticker))

    assert inbound is not None
    assert (inbound.text, inbound.choice, inbound.attachments) == (None, None, ())


@pytest.mark.parametrize("kind", ["edited_message", "channel_post", "edited_channel_post"])
def test_edits_and_channel_posts_are_not_stored(kind: str) -> None:
    assert parse(**{kind: message(text="changed", edit_date=1_760_000_100)}) is None


def test_a_group_message_is_not_an_intake_message() -> None:
    group = message(text="hi", chat={"id": -100, "type": "supergroup", "title": "Family"})

    assert parse(message=group) is None


def test_a_service_message_is_not_stored() -> None:
    assert parse(message=message(new_chat_title="x")) is None


def test_an_update_we_did_not_ask_for_is_not_stored() -> None:
    answer = {"poll_id": "p", "user": user(), "option_ids": [0],
              "option_persistent_ids": ["a"]}

    assert parse(poll_answer=answer) is None


def test_a_tapped_single_choice_becomes_the_choice() -> None:
    inbound = tap("c:cardiology")

    assert inbound is not None and inbound.choice == "cardiology" and inbound.text is None
    assert inbound.external_id == str(CHAT) and inbound.provider_key == f"{BOT_ID}:900"


def test_a_toggle_is_only_a_keyboard_change() -> None:
    assert tap("m:cardiac", keyboard(OPTIONS, True, "Send")) is None


def test_send_reads_the_ticked_options_back_from_the_keyboard() -> None:
    markup = toggled(keyboard(OPTIONS, True, "Send my choice"), "cardiac")  # type: ignore[arg-type]

    inbound = tap("d:", markup)

    assert inbound is not None and inbound.choices == ("cardiac",)


def test_send_with_nothing_ticked_sends_an_empty_choice_for_the_bot_to_re_ask() -> None:
    inbound = tap("d:", keyboard(OPTIONS, True, "Send"))

    assert inbound is not None and inbound.choices == ()


@pytest.mark.parametrize("data", ["x", "zz:1", "c:", "", "m:"])
def test_buttons_that_are_not_answers_are_not_stored(data: str) -> None:
    assert tap(data) is None


def test_callback_data_parsing() -> None:
    assert parse_callback_data("c:yes") == ("c", "yes")
    assert parse_callback_data("d:") == ("d", "")
    assert parse_callback_data("x") == ("x", "")
    assert parse_callback_data(None) is None
    assert parse_callback_data("c:a:b") == ("c", "a:b")


def test_a_single_choice_keyboard_has_one_button_per_row() -> None:
    data = markup_json(keyboard(OPTIONS, False, "Send"))

    assert data["inline_keyboard"] == [
        [{"text": "A heart problem", "callback_data": "c:cardiac"}],
        [{"text": "None of these", "callback_data": "c:none"}],
    ]


def test_a_several_choice_keyboard_ends_with_the_send_button() -> None:
    data = markup_json(keyboard(OPTIONS, True, "Envoyer mon choix"))

    assert [row[0]["callback_data"] for row in data["inline_keyboard"]] == [
        "m:cardiac", "m:none", "d:"]
    assert data["inline_keyboard"][-1][0]["text"] == "Envoyer mon choix"


def test_toggling_twice_gives_back_the_keyboard() -> None:
    markup = keyboard(OPTIONS, True, "Send")
    assert markup is not None

    once = toggled(markup, "none")
    twice = toggled(once, "none")

    assert selected_keys(once) == ("none",)
    assert once.inline_keyboard[1][0].text == SELECTED + "None of these"
    assert twice == markup and selected_keys(twice) == ()


def test_an_answered_keyboard_keeps_only_the_chosen_label_inert() -> None:
    single = answered(keyboard(OPTIONS, False, "Send"), "c:none")
    several = answered(toggled(toggled(keyboard(OPTIONS, True, "S"), "cardiac"),  # type: ignore[arg-type]
                               "none"), "d:")

    assert markup_json(single)["inline_keyboard"] == [
        [{"text": SELECTED + "None of these", "callback_data": "x"}]]
    assert [row[0]["text"] for row in markup_json(several)["inline_keyboard"]] == [
        SELECTED + "A heart problem", SELECTED + "None of these"]
    assert answered(keyboard(OPTIONS, True, "S"), "d:") is None


def test_options_telegram_cannot_carry_degrade_to_no_keyboard() -> None:
    too_long = (OutOption("k" * 63, "Long key"),)
    too_many = tuple(OutOption(str(n), str(n)) for n in range(101))

    assert keyboard(too_long, False, "Send") is None
    assert keyboard(too_many, False, "Send") is None
    assert keyboard((), False, "Send") is None


def test_long_texts_are_cut_at_paragraphs_within_the_limit() -> None:
    text = "\n\n".join(["word " * 300] * 5)

    parts = split_text(text, 4096)

    assert len(parts) > 1 and all(utf16_length(p) <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", "")


def test_a_paragraph_break_wins_over_a_later_space() -> None:
    text = "a" * 3000 + "\n\n" + "b " * 1000

    parts = split_text(text, 4096)

    assert [part.strip() for part in parts] == ["a" * 3000, ("b " * 1000).strip()]


def test_emoji_count_double_against_the_limit() -> None:
    parts = split_text("\U0001F600" * 3000, 4096)

    assert [utf16_length(p) for p in parts] == [4096, 1904]


def test_a_short_text_is_sent_whole() -> None:
    assert split_text("Hello", 4096) == ["Hello"]


def test_provider_errors_map_to_outbox_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")

    flood = channel_error(RetryAfter(3))
    blocked = channel_error(Forbidden("Forbidden: bot was blocked by the user"))
    bad = channel_error(BadRequest("Bad Request: chat not found"))
    slow = channel_error(TimedOut())
    down = channel_error(NetworkError("Internal Server Error"))

    assert flood.retry_after == 3.0 and not flood.permanent
    assert blocked.blocked and blocked.permanent
    assert bad.permanent and not bad.blocked
    assert not slow.permanent and not down.permanent and down.retry_after is None


def test_the_file_root_follows_the_api_root() -> None:
    assert file_base_url("http://127.0.0.1:9/bot") == "http://127.0.0.1:9/file/bot"
    assert file_base_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_base_url("https://api.telegram.org/bot{token}/test") == (
        "https://api.telegram.org/file/bot{token}/test")

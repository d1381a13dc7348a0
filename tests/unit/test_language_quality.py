"""What the native review asked of the code: the family's own command words, the patient named
in shared questions, the consent's content and version, language names and labels as they read
inside a sentence, examples from the family's country, bare links."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.i18n.catalog import Catalogs, po_path, read_catalog
from bot.i18n.render import Renderer, running_case
from bot.i18n.workflow import PROJECT_ROOT
from intake import events as ev
from intake.answers import Invalid, parse_contact, phone_example
from intake.commands import Command, command_help, command_word, match_command, slash_name
from intake.conversation import Conversation, Phase, current_prompts, start
from intake.prompts import LanguageName, Lines, Running, Text
from intake.questionnaire import CONSENT_VERSION, STEP_BY_KEY, question_of
from intake.vocabulary import LANGUAGES, Role
from tests.unit.conversation_helpers import at_step, consented, msgids, play, say

RENDERER = Renderer(Catalogs())
ENGLISH_WORDS = {command_word(command, "en") for command in Command}


def help_lines(language: str) -> list[Text]:
    """The lines of the help message, in the conversation's language."""
    outcome = say(consented(language=language), "/help")
    commands = outcome.prompts[0].text.params["commands"]
    assert isinstance(commands, Lines)
    return [line for line in commands.items if isinstance(line, Text)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_help_lists_the_familys_own_word_and_the_slash_form_of_every_command(
    language: str,
) -> None:
    lines = help_lines(language)
    assert [line.params["word"] for line in lines] == [
        command_word(command, language) for command, _ in command_help()
    ]
    assert [line.params["slash"] for line in lines] == [
        f"/{slash_name(command)}" for command, _ in command_help()
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_listed_form_is_recognised_as_its_command(language: str) -> None:
    for line, (command, _) in zip(help_lines(language), command_help(), strict=True):
        assert match_command(line.params["word"]) is command, (language, line.params["word"])
        assert match_command(line.params["slash"]) is command, line.params["slash"]


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_help_in_another_language_teaches_no_english_command_word(language: str) -> None:
    words = {line.params["word"] for line in help_lines(language)}
    assert not words & ENGLISH_WORDS, words & ENGLISH_WORDS


@pytest.mark.parametrize("typed", ["/stop_reminders", "/new_link"])
def test_the_long_slash_forms_shown_in_the_help_are_commands_not_unknown(typed: str) -> None:
    outcome = say(consented(), typed)
    assert not any(m.startswith("We do not recognise the command") for m in msgids(outcome))


def test_the_welcome_teaches_the_words_the_help_lists() -> None:
    outcome = say(Conversation(phase=Phase.CONSENT, language="tr"), "evet")
    welcome = outcome.prompts[0].text
    assert welcome.params == {
        "back": command_word(Command.BACK, "tr"), "help": command_word(Command.HELP, "tr"),
    }
    assert RENDERER.text(welcome, "tr").count("“geri”") == 1


def test_the_greeting_says_an_automated_assistant_answers_and_coordinators_read() -> None:
    greeting = start().prompts[0].text.msgid
    assert "automated assistant" in greeting
    assert "coordinators read this conversation" in greeting


def test_consent_says_what_is_agreed_to_that_data_goes_to_belgium_and_who_reads_it() -> None:
    consent = say(Conversation(), choice="fr").prompts[-1].text
    assert consent.params["version"] == CONSENT_VERSION == "2026-12-v2"
    assert "sent to Belgium" in consent.msgid
    assert "only our medical coordinators and the university-hospital specialists" in (
        consent.msgid
    )
    assert consent.msgid.count("Do you agree to the processing of this health information")
    french = RENDERER.text(consent, "fr")
    assert "Belgique" in french and "«\u00a0effacer mes données\u00a0»" in french


@pytest.mark.parametrize("command", ["/restart", "English", "/language"])
def test_a_family_that_consented_to_the_previous_version_is_not_asked_again(
    command: str,
) -> None:
    earlier = replace(at_step("patient_country"), consent_version="2026-11-v1")
    state = play(earlier, command)
    if state.phase is Phase.LANGUAGE:
        state = play(state, "English")
    assert state.phase is Phase.QUESTIONS
    assert state.consent_version == "2026-11-v1"
    assert not any(m.startswith("Before we start") for p in [current_prompts(state)]
                   for m in msgids(p))


def test_the_urgency_question_names_the_patient_when_a_relative_writes() -> None:
    step = STEP_BY_KEY["urgency"]
    assert "the patient's situation" in question_of(step, {"role": Role.PARENT}).msgid
    assert "the patient's situation" in question_of(step, {"role": Role.DOCTOR}).msgid
    assert "your situation" in question_of(step, {"role": Role.PATIENT}).msgid


@pytest.mark.parametrize("key", ["local_proposal", "goals", "treatment_history", "urgency"])
def test_questions_shared_by_patient_and_relative_have_a_wording_for_each(key: str) -> None:
    step = STEP_BY_KEY[key]
    relative = question_of(step, {"role": Role.RELATIVE}).msgid
    patient = question_of(step, {"role": Role.PATIENT}).msgid
    assert "patient" in relative and "patient" not in patient


def test_the_urgency_question_asked_of_a_mother_names_her_child_in_russian() -> None:
    state = at_step("urgency", role="A parent of the patient")
    text = RENDERER.text(current_prompts(state)[0].text, "ru")
    assert "ситуации пациента" in text


def test_a_status_report_counts_questions_with_the_languages_plural() -> None:
    outcome = say(at_step("patient_sex"), "/status")
    progress = outcome.prompts[0].text
    assert progress.count == 18
    assert "из 18\u00a0вопросов" in RENDERER.text(progress, "ru")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("tr", "Arapça (العربية)"), ("fr", "arabe (العربية)"), ("nl", "Arabisch (العربية)"),
     ("ar", "العربية"), ("en", "Arabic (العربية)")],
)
def test_a_language_is_named_in_the_readers_language(lang: str, expected: str) -> None:
    assert RENDERER.text(Text.of("{name}", name=LanguageName("ar")), lang) == expected


def test_a_latin_language_name_is_isolated_inside_arabic_text() -> None:
    rendered = RENDERER.text(Text.of("{name}", name=LanguageName("ru")), "ar")
    assert rendered == "الروسية (\u2068Русский\u2069)"


def test_the_summary_names_the_report_language_for_the_reader() -> None:
    state = at_step("treatment_history", report_language="Arabic")
    state = play(state, "skip", "skip", "skip", "skip", "yes")
    summary = RENDERER.text(current_prompts(state)[0].text, "tr")
    assert "Yazılı görüşün dili: Arapça (العربية)" in summary


@pytest.mark.parametrize(
    ("label", "lang", "expected"),
    [("Referral letter", "en", "referral letter"),
     ("Lettre du médecin", "fr", "lettre du médecin"), ("MRI", "en", "MRI"),
     ("Imaging (DICOM)", "nl", "imaging (DICOM)"),
     ("Işın tedavisi", "tr", "ışın tedavisi"), ("İç hastalıkları", "tr", "iç hastalıkları"),
     ("Лучевая терапия", "ru", "лучевая терапия"), ("الأورام", "ar", "الأورام")],
)
def test_a_label_inside_a_sentence_loses_its_capital_where_the_language_says_so(
    label: str, lang: str, expected: str
) -> None:
    assert running_case(label, lang) == expected


@pytest.mark.parametrize("lang", ["fr", "en", "nl", "ru", "tr"])
def test_joined_labels_have_no_capital_after_a_colon_or_a_comma(lang: str) -> None:
    labels = (Text.of("Referral letter"), Text.of("Laboratory results"),
              Text.of("Pathology report"))
    rendered = RENDERER.text(Text.of("Still missing: {items}.", items=labels), lang)
    assert not re.search(r"[:,]\s*[A-ZÀ-ÝА-ЯЁİ]", rendered), rendered


@pytest.mark.parametrize(
    ("region", "start_of_number"),
    [("TR", "+90 5"), ("MA", "+212 6"), ("RU", "+7 9"), ("FR", "+33 6"), (None, "+212")],
)
def test_the_phone_example_comes_from_the_familys_country(
    region: str | None, start_of_number: str
) -> None:
    assert phone_example(region, "ar").startswith(start_of_number)


def test_a_phone_number_without_country_code_is_explained_with_a_local_example() -> None:
    result = parse_contact("0612345678", None, phone_example("TR", "tr"))
    assert isinstance(result, Invalid)
    assert result.reason.params["example"].startswith("+90 ")


def test_the_physician_contact_question_gives_an_example_from_the_patients_country() -> None:
    state = at_step("physician_contact", patient_country="Turkey")
    outcome = say(state, "0612345678")
    assert outcome.prompts[0].text.params["example"].startswith("+90 ")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_catalog_wraps_a_link_in_bidi_isolates(lang: str) -> None:
    catalog = read_catalog(po_path(PROJECT_ROOT / "locales", lang), lang)
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert not re.search(r"\u2068\{(?:url|link)\}|\{(?:url|link)\}\u2069", string or ""), (
                message.id
            )


def test_stopping_reminders_by_its_long_slash_form_stops_them() -> None:
    outcome = say(consented(language="ar"), "/stop_reminders")
    assert outcome.events == [ev.RemindersStopped()]


def test_a_status_after_a_colon_reads_in_running_text_case_in_french() -> None:
    status = Text.of("Your request {reference}: {status}.", reference="SO-ABC123",
                     status=Running(Text("Waiting for documents")))
    rendered = RENDERER.text(status, "fr")
    assert rendered == "Votre demande SO-ABC123\u00a0: en attente des documents."


def test_the_english_pronoun_keeps_its_capital_inside_a_sentence() -> None:
    assert running_case("I am the patient", "en") == "I am the patient"
    assert running_case("A parent of the patient", "en") == "a parent of the patient"


TAUGHT = {"“new link”": Command.NEW_LINK, "“erase my data”": Command.ERASE}
QUOTED = re.compile(r"[“«„\"]\u00a0?([^”»“\"]+?)\u00a0?[”»“\"]")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_command_word_a_message_teaches_is_recognised(lang: str) -> None:
    catalog = read_catalog(po_path(PROJECT_ROOT / "locales", lang), lang)
    checked = 0
    for message in catalog:
        if not isinstance(message.id, str) or not isinstance(message.string, str):
            continue
        for english, command in TAUGHT.items():
            if english in message.id:
                words = QUOTED.findall(message.string)
                assert any(match_command(word) is command for word in words), (
                    lang, message.id, words)
                checked += 1
    assert checked >= 5

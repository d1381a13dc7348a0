"""Understanding one typed answer, or giving the family a clear reason to answer again."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from babel import Locale
from babel.dates import get_month_names
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.answers import (
    Invalid,
    Parsed,
    Valid,
    parse_choice,
    parse_contact,
    parse_country,
    parse_date,
    parse_free_text,
    parse_multi_choice,
    parse_name,
    parse_skip,
    parse_yes_no,
)
from intake.vocabulary import LANGUAGES

TODAY = date(2025, 6, 15)
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

SPECIALTIES: list[tuple[str, list[str]]] = [
    ("oncology", ["Oncologie", "Oncology", "cancer"]),
    ("cardiology", ["Cardiologie", "Cardiology", "heart"]),
    ("neurology", ["Neurologie", "Neurology"]),
    ("other", ["Autre", "Other"]),
]
URGENCY: list[tuple[str, list[str]]] = [
    ("aggressive_cancer", ["سرطان عدواني", "Aggressive cancer"]),
    ("cardiac", ["مشكلة في القلب", "Heart problem"]),
    ("treatment_soon", ["علاج قريب", "Treatment starts soon"]),
    ("none", ["لا شيء", "None of these"]),
]
NONE = frozenset({"none"})


def reason_of(result: Parsed[Any]) -> str:
    """The reason's message id, after checking its placeholders are all provided."""
    assert isinstance(result, Invalid), result
    reason = result.reason
    reason.msgid.format(**reason.params)
    if reason.plural is not None:
        reason.plural.format(**reason.params)
    return reason.msgid


# ---------------------------------------------------------------- choice


@pytest.mark.parametrize("typed", ["2", "٢", "۲", "2.", "#2", " 2 ", "2)", "2️⃣"])
def test_an_option_number_in_any_digits_picks_that_option(typed: str) -> None:
    assert parse_choice(typed, SPECIALTIES) == Valid("cardiology")


@pytest.mark.parametrize(
    "typed", ["cardiology", "Cardiologie", "CARDIOLOGIE", "heart", "Heart!", "cardio"]
)
def test_a_key_label_synonym_or_clear_beginning_picks_the_option(typed: str) -> None:
    assert parse_choice(typed, SPECIALTIES) == Valid("cardiology")


def test_a_label_inside_a_sentence_picks_the_option() -> None:
    assert parse_choice("my father has cancer", SPECIALTIES) == Valid("oncology")


def test_russian_yo_and_ye_match_each_other_in_choices() -> None:
    options = [("worse", ["Ещё хуже", "Worse"]), ("better", ["Лучше", "Better"])]
    assert parse_choice("еще хуже", options) == Valid("worse")


def test_turkish_dotted_and_dotless_i_match_each_other_in_choices() -> None:
    options = [("cardiology", ["Kardiyoloji"]), ("other", ["Diğer İşlem"])]
    assert parse_choice("DİĞER İŞLEM", options) == Valid("other")
    assert parse_choice("diğer islem", options) == Valid("other")
    assert parse_choice("KARDIYOLOJI", options) == Valid("cardiology")


def test_an_arabic_answer_without_the_article_matches_a_label_with_it() -> None:
    assert parse_choice("القلب", URGENCY) == Valid("cardiac")


@pytest.mark.parametrize("typed", ["5", "0", "٩", "12"])
def test_an_option_number_that_does_not_exist_names_the_valid_range(typed: str) -> None:
    result = parse_choice(typed, SPECIALTIES)
    assert reason_of(result).startswith("Please answer with a number from 1 to {count}")
    assert isinstance(result, Invalid)
    assert result.reason.params["count"] == 4


def test_an_ambiguous_beginning_is_not_guessed() -> None:
    assert isinstance(parse_choice("logie", SPECIALTIES), Invalid)
    assert "more than one option" in reason_of(
        parse_choice("neur", [*SPECIALTIES, ("n", ["Neuro"])])
    )


@pytest.mark.parametrize("typed", ["", "   ", "👍", "xyz", "x" * 10_000, "9" * 10_000])
def test_empty_emoji_unknown_or_huge_choices_are_re_asked(typed: str) -> None:
    assert isinstance(parse_choice(typed, SPECIALTIES), Invalid)


@settings(deadline=None)
@given(
    keys=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=15, unique=True),
    data=st.data(),
)
def test_the_number_i_in_range_always_picks_the_ith_key(keys: list[str], data: Any) -> None:
    options = [(key, [key.upper(), f"label {key}"]) for key in keys]
    i = data.draw(st.integers(min_value=1, max_value=len(keys)))
    arabic = data.draw(st.booleans())
    typed = str(i).translate(ARABIC_INDIC) if arabic else str(i)
    assert parse_choice(typed, options) == Valid(keys[i - 1])


# ---------------------------------------------------------------- multiple choice


@pytest.mark.parametrize(
    "typed",
    [
        "1, 3",
        "1 3",
        "1 and 3",
        "3 et 1",
        "1 en 3",
        "1 и 3",
        "1 ve 3",
        "١ و ٣",
        "1;3;1",
        "aggressive cancer and treatment starts soon",
        "سرطان عدواني، علاج قريب",
    ],
)
def test_several_choices_are_read_deduplicated_in_option_order(typed: str) -> None:
    assert parse_multi_choice(typed, URGENCY, NONE) == Valid(
        ("aggressive_cancer", "treatment_soon")
    )


def test_arabic_and_joined_to_the_next_word_separates_choices() -> None:
    assert parse_multi_choice("السرطان والقلب", URGENCY, NONE) == Valid(
        ("aggressive_cancer", "cardiac")
    )


def test_an_exclusive_choice_alone_is_accepted() -> None:
    assert parse_multi_choice("4", URGENCY, NONE) == Valid(("none",))


def test_an_exclusive_choice_cannot_be_combined_with_others() -> None:
    result = parse_multi_choice("1, 4", URGENCY, NONE)
    assert "cannot be combined" in reason_of(result)


def test_one_out_of_range_number_among_several_names_the_valid_range() -> None:
    assert "from 1 to {count}" in reason_of(parse_multi_choice("1, 9", URGENCY, NONE))


@pytest.mark.parametrize("typed", ["", "🙏", "1, banana"])
def test_empty_emoji_or_unknown_parts_of_several_choices_are_re_asked(typed: str) -> None:
    assert isinstance(parse_multi_choice(typed, URGENCY, NONE), Invalid)


# ---------------------------------------------------------------- yes / no

YES_NO_WORDS = {
    "en": (["yes", "Yes!", "y", "OK", "sure"], ["no", "No.", "n"]),
    "fr": (["oui", "Oui", "d'accord", "D’accord"], ["non", "NON"]),
    "nl": (["ja", "Ja", "akkoord"], ["nee", "neen", "Nee"]),
    "ru": (["да", "Да", "конечно"], ["нет", "Нет"]),
    "tr": (["evet", "Evet", "tamam"], ["hayır", "hayir", "HAYIR", "Hayır"]),
    "ar": (["نعم", "نَعَم", "أجل", "اجل", "موافق"], ["لا", "لأ"]),
}


@pytest.mark.parametrize(
    ("language", "typed", "meaning"),
    [
        (language, word, meaning)
        for language, (yes, no) in YES_NO_WORDS.items()
        for meaning, words in ((True, yes), (False, no))
        for word in words
    ],
)
def test_each_languages_yes_and_no_are_understood(
    language: str, typed: str, meaning: bool
) -> None:
    assert parse_yes_no(typed, language) == Valid(meaning)


@pytest.mark.parametrize("language", LANGUAGES)
def test_yes_and_no_are_understood_whatever_the_conversation_language(language: str) -> None:
    assert parse_yes_no("evet", language) == Valid(True)
    assert parse_yes_no("nee", language) == Valid(False)


@pytest.mark.parametrize(
    ("typed", "meaning"),
    [
        ("1", True),
        ("2", False),
        ("١", True),
        ("👍", True),
        ("👍🏽", True),
        ("✅", True),
        ("👎", False),
        ("❌", False),
    ],
)
def test_numbers_and_emoji_answer_yes_or_no(typed: str, meaning: bool) -> None:
    assert parse_yes_no(typed, "en") == Valid(meaning)


@pytest.mark.parametrize(
    ("typed", "meaning"),
    [("Yes, he had surgery", True), ("non merci", False), ("evet lütfen", True)],
)
def test_a_yes_or_no_leading_a_short_reply_counts(typed: str, meaning: bool) -> None:
    assert parse_yes_no(typed, "en") == Valid(meaning)


@pytest.mark.parametrize("typed", ["", "maybe", "no idea", "не знаю", "🤔", "x" * 10_000, "3"])
def test_unclear_yes_no_answers_are_re_asked(typed: str) -> None:
    assert reason_of(parse_yes_no(typed, "en")).startswith("Please answer yes or no")


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "typed",
    [
        "03/03/1980",
        "3/3/1980",
        "03.03.1980",
        "03-03-1980",
        "1980-03-03",
        " 3 / 3 / 1980 ",
        "٠٣/٠٣/١٩٨٠",
        "۰۳/۰۳/۱۹۸۰",
        "3 mars 1980",
        "3 March 1980",
        "March 3, 1980",
        "3rd of March 1980",
        "3 Mart 1980",
        "3 марта 1980",
        "3 март 1980",
        "3 maart 1980",
        "3 mrt 1980",
        "3 مارس 1980",
        "٣ مارس ١٩٨٠",
        "3 آذار 1980",
        "le 3 mars 1980",
        "3 марта 1980 г.",
    ],
)
def test_dates_are_read_in_numeric_forms_and_six_languages(typed: str) -> None:
    assert parse_date(typed, TODAY) == Valid(date(1980, 3, 3))


def test_ambiguous_numeric_dates_are_read_day_first() -> None:
    assert parse_date("04/05/1980", TODAY) == Valid(date(1980, 5, 4))


MONTH_NAMES = [
    (locale, month, name)
    for locale in LANGUAGES
    for width in ("wide", "abbreviated")
    for context in ("format", "stand-alone")
    for month, name in get_month_names(width, context, locale).items()
]


@pytest.mark.parametrize(("locale", "month", "name"), MONTH_NAMES)
def test_every_month_name_of_every_language_is_understood(
    locale: str, month: int, name: str
) -> None:
    assert parse_date(f"15 {name} 1980", TODAY) == Valid(date(1980, month, 15))


@pytest.mark.parametrize("typed", ["31/02/1980", "30.02.2000", "31 avril 1980", "1/13/1980"])
def test_an_impossible_date_says_it_does_not_exist(typed: str) -> None:
    assert reason_of(parse_date(typed, TODAY)).startswith("This date does not exist")


def test_a_birth_date_in_the_future_is_refused() -> None:
    tomorrow = TODAY + timedelta(days=1)
    result = parse_date(tomorrow.strftime("%d/%m/%Y"), TODAY)
    assert reason_of(result).startswith("This date is in the future")


def test_a_future_date_is_accepted_when_allowed() -> None:
    assert parse_date("01/01/2030", TODAY, not_future=False) == Valid(date(2030, 1, 1))


def test_today_is_not_in_the_future() -> None:
    assert parse_date("15/06/2025", TODAY) == Valid(TODAY)


def test_a_date_131_years_ago_is_refused() -> None:
    result = parse_date("15/06/1894", TODAY)
    assert reason_of(result).startswith("This date is more than {count} year")
    assert isinstance(result, Invalid)
    assert result.reason.count == 130


def test_a_date_exactly_130_years_ago_is_accepted() -> None:
    assert parse_date("15/06/1895", TODAY) == Valid(date(1895, 6, 15))


@pytest.mark.parametrize("typed", ["03/03/80", "3 mars 80"])
def test_a_two_digit_year_asks_for_four_digits(typed: str) -> None:
    assert reason_of(parse_date(typed, TODAY)).startswith("Please write the year with four")


@pytest.mark.parametrize(
    "typed", ["", "   ", "🎂", "yesterday", "1980", "3 mars", "03/03/198", "x" * 10_000]
)
def test_text_that_is_not_a_date_asks_for_day_month_year(typed: str) -> None:
    assert reason_of(parse_date(typed, TODAY)).startswith("Please write the date as day/month")


@settings(deadline=None)
@given(st.dates(min_value=date(1895, 6, 15), max_value=TODAY))
def test_any_valid_date_written_dd_mm_yyyy_round_trips(day: date) -> None:
    assert parse_date(day.strftime("%d/%m/%Y"), TODAY) == Valid(day)


# ---------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("France", "FR"),
        ("frankrijk", "FR"),
        ("Fransa", "FR"),
        ("Франция", "FR"),
        ("فرنسا", "FR"),
        ("Maroc", "MA"),
        ("المغرب", "MA"),
        ("Pays-Bas", "NL"),
        ("the Netherlands", "NL"),
        ("Holland", "NL"),
        ("UK", "GB"),
        ("Royaume Uni", "GB"),
        ("USA", "US"),
        ("Emirates", "AE"),
        ("UAE", "AE"),
        ("KSA", "SA"),
        ("Türkiye", "TR"),
        ("TÜRKİYE", "TR"),
        ("Turkey", "TR"),
        ("Russia", "RU"),
        ("Россия", "RU"),
        ("BE", "BE"),
        ("we live in Belgium", "BE"),
        ("Côte d’Ivoire", "CI"),
        ("Canary Islands", "ES"),
    ],
)
def test_countries_are_read_in_six_languages_with_common_aliases(typed: str, code: str) -> None:
    assert parse_country(typed) == Valid(code)


NOT_COUNTRIES = {
    "EU",
    "EZ",
    "UN",
    "ZZ",
    "QO",
    "XA",
    "XB",
    "AC",
    "CP",
    "CQ",
    "DG",
    "TA",
    "IC",
    "EA",
}
TERRITORIES = [
    (language, code, name)
    for language in LANGUAGES
    for code, name in Locale.parse(language).territories.items()
    if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
]


@pytest.mark.parametrize(("language", "code", "name"), TERRITORIES)
def test_every_babel_country_name_reads_as_its_code(language: str, code: str, name: str) -> None:
    assert parse_country(name, (language,)) == Valid(code)


@pytest.mark.parametrize("typed", ["", "🌍", "Atlantis", "Congo", "xx", "x" * 10_000])
def test_unknown_or_ambiguous_countries_are_re_asked(typed: str) -> None:
    assert "as a country" in reason_of(parse_country(typed))


# ---------------------------------------------------------------- contact


@pytest.mark.parametrize(
    ("typed", "region", "expected"),
    [
        ("Jan.Peeters@Example.BE", None, "Jan.Peeters@example.be"),
        (" mailto:a@b.co ", None, "a@b.co"),
        ("+31 6 12345678", None, "+31612345678"),
        ("06-12345678", "NL", "+31612345678"),
        ("٠٦١٢٣٤٥٦٧٨", "NL", "+31612345678"),
        ("0032 470 12 34 56", None, "+32470123456"),
        ("whatsapp:+905321234567", None, "+905321234567"),
    ],
)
def test_an_email_or_phone_number_is_read(typed: str, region: str | None, expected: str) -> None:
    assert parse_contact(typed, region) == Valid(expected)


@pytest.mark.parametrize("typed", ["a@b", "a@@b.com", "a b@c.com", "@example.com"])
def test_a_malformed_email_is_refused(typed: str) -> None:
    assert "e-mail address does not look right" in reason_of(parse_contact(typed, None))


def test_a_local_phone_number_without_a_known_region_asks_for_the_country_code() -> None:
    assert "country code" in reason_of(parse_contact("0612345678", None))


def test_an_impossible_phone_number_is_refused() -> None:
    assert "phone number does not look right" in reason_of(parse_contact("+999 1234567", None))


@pytest.mark.parametrize("typed", ["", "call me", "👍", "x" * 10_000])
def test_text_that_is_no_contact_is_re_asked(typed: str) -> None:
    assert isinstance(parse_contact(typed, "NL"), Invalid)


# ---------------------------------------------------------------- free text, names, skip


def test_free_text_is_trimmed_and_otherwise_kept_as_typed() -> None:
    typed = "  Mon père a un  cancer du poumon, diagnostiqué en 2024 ❤️\n"
    assert parse_free_text(typed) == Valid(typed.strip())


@pytest.mark.parametrize("typed", ["", "   \n", "👍🙏", "?!", "❤️❤️❤️"])
def test_empty_or_emoji_only_free_text_asks_for_words(typed: str) -> None:
    assert reason_of(parse_free_text(typed)) == "Please write your answer in words."


def test_free_text_of_10000_characters_states_the_limit_and_the_length() -> None:
    result = parse_free_text("x" * 10_000)
    assert "{limit}" in reason_of(result) and "{length}" in reason_of(result)
    assert isinstance(result, Invalid)
    assert result.reason.params["limit"] == 3000
    assert result.reason.params["length"] == 10_000


def test_free_text_at_the_limit_is_accepted() -> None:
    assert parse_free_text("x" * 3000) == Valid("x" * 3000)


def test_free_text_shorter_than_the_minimum_is_re_asked() -> None:
    assert "at least {limit}" in reason_of(parse_free_text("a"))


@settings(deadline=None)
@given(st.text(max_size=200))
def test_free_text_is_either_trimmed_input_or_a_reason(text: str) -> None:
    result = parse_free_text(text)
    assert result == Valid(text.strip()) or isinstance(result, Invalid)


@pytest.mark.parametrize("typed", ["Ahmed", "محمد علي", "Ayşe Yılmaz", "Ёлкин Пётр", "Jo"])
def test_names_in_any_script_are_accepted(typed: str) -> None:
    assert parse_name(typed) == Valid(typed)


def test_a_name_has_its_spaces_collapsed() -> None:
    assert parse_name("  Jan   de  Vries ") == Valid("Jan de Vries")


@pytest.mark.parametrize("typed", ["", "12345", "٣٤٥", "👍", "A", "x" * 201])
def test_empty_digit_only_one_letter_or_overlong_names_are_re_asked(typed: str) -> None:
    assert isinstance(parse_name(typed), Invalid)


@pytest.mark.parametrize(
    "typed",
    ["skip", "Skip", "passer", "overslaan", "пропустить", "geç", "GEÇ", "gec", "تخطي", "-", "—"],
)
def test_skip_words_of_each_language_and_a_dash_skip_an_optional_question(typed: str) -> None:
    assert parse_skip(typed, "en")


@pytest.mark.parametrize("typed", ["no", "", "skipping rope", "1"])
def test_ordinary_answers_do_not_skip(typed: str) -> None:
    assert not parse_skip(typed, "en")


@settings(deadline=None)
@given(st.text(max_size=60))
def test_no_parser_raises_on_arbitrary_text(text: str) -> None:
    for result in (
        parse_choice(text, SPECIALTIES),
        parse_multi_choice(text, URGENCY, NONE),
        parse_yes_no(text, "ar"),
        parse_date(text, TODAY),
        parse_country(text),
        parse_contact(text, "TR"),
        parse_free_text(text),
        parse_name(text),
    ):
        if isinstance(result, Invalid):
            reason_of(result)
        else:
            assert isinstance(result, Valid)

"""Folding: typed answers that mean the same compare equal, across scripts and keyboards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.normalize import fold, fold_words, is_meaningful, to_ascii_digits


@pytest.mark.parametrize("typed", ["İSTANBUL", "istanbul", "Istanbul", "ıstanbul", "ISTANBUL"])
def test_turkish_dotted_and_dotless_i_fold_to_the_same_word(typed: str) -> None:
    assert fold(typed) == "istanbul"


def test_turkish_letters_lose_their_marks_for_matching() -> None:
    assert (
        fold("Hayır Şubat Ağustos Kasım Çarşamba Gül") == "hayir subat agustos kasim carsamba gul"
    )


def test_russian_yo_folds_to_ye() -> None:
    assert fold("Ёлка") == fold("елка") == "елка"


def test_russian_short_i_is_kept_apart_from_i() -> None:
    assert fold("йод") != fold("иод")


def test_arabic_tashkeel_and_tatweel_are_removed() -> None:
    assert fold("نَعَمْ") == "نعم"
    assert fold("مـــرحبا") == "مرحبا"


@pytest.mark.parametrize("alef", ["أ", "إ", "آ", "ٱ", "ا"])
def test_arabic_alef_forms_are_unified(alef: str) -> None:
    assert fold(f"{alef}حمد") == "احمد"


def test_arabic_ta_marbuta_and_alef_maqsura_fold_to_ha_and_ya() -> None:
    assert fold("مساعدة") == fold("مساعده")
    assert fold("تخطى") == fold("تخطي")


def test_arabic_indic_and_extended_digits_become_ascii() -> None:
    assert fold("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert fold("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert to_ascii_digits("٢١/٠٣/١٩٨٠") == "21/03/1980"


def test_to_ascii_digits_leaves_other_characters_alone() -> None:
    assert to_ascii_digits("Room ٣, étage 2") == "Room 3, étage 2"


@given(st.integers(min_value=0, max_value=10**12))
def test_any_number_written_in_arabic_indic_digits_reads_as_the_same_number(n: int) -> None:
    arabic = str(n).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert to_ascii_digits(arabic) == str(n)


def test_latin_accents_are_stripped_and_case_folded() -> None:
    assert fold("Éléphant Ça Öl Über Straße") == "elephant ca ol uber strasse"


def test_whitespace_is_trimmed_and_collapsed() -> None:
    assert fold("  my \t father\n\n is   ill ") == "my father is ill"


def test_typographic_apostrophes_match_the_plain_one() -> None:
    assert fold("d’accord") == fold("d'accord") == "d'accord"


def test_invisible_direction_marks_do_not_break_matching() -> None:
    assert fold("\u200fنعم\u200e") == "نعم"


def test_keycap_digit_emoji_reads_as_the_digit() -> None:
    assert fold("2️⃣") == "2"


def test_fold_words_drops_punctuation_and_emoji() -> None:
    assert fold_words("Oui !!! 👍") == "oui"
    assert fold_words("Royaume-Uni") == "royaume uni"


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(st.text())
def test_fold_words_is_idempotent(text: str) -> None:
    assert fold_words(fold_words(text)) == fold_words(text)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "👍", "🙏🏽🙏🏽", "?!...", "— —", "\u200f"])
def test_empty_space_emoji_and_punctuation_are_not_meaningful(text: str) -> None:
    assert not is_meaningful(text)


@pytest.mark.parametrize("text", ["a", "نعم", "да", "7", "٣", "Ş", "ok 👍"])
def test_letters_or_digits_in_any_script_are_meaningful(text: str) -> None:
    assert is_meaningful(text)

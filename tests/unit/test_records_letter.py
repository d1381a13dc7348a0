"""The records-request letter's content: the law cited by the patient's country, the patient's
details, six languages, Arabic right to left; read back from the PDF with pypdf."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer
from bot.journey.letter_pdf import render_letter, uncovered
from intake.records_letter import (
    EEA,
    LegalBasis,
    clean_hospital,
    legal_basis,
    letter_details,
)

RENDERER = Renderer(Catalogs())
BORN = date(2015, 5, 14)
TODAY = date(2026, 12, 6)


def pdf_text(data: bytes) -> str:
    """Every page's text with whitespace (and no-break spaces) collapsed, for phrase checks."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text.replace("\u00a0", " "))


def letter(lang: str, basis: LegalBasis, name: str = "Amira Benali",
           hospital: str = "CHU Ibn Rochd") -> bytes:
    return render_letter(RENDERER, lang, patient_name=name, birth_date=BORN, hospital=hospital,
                         today=TODAY, basis=basis)


@pytest.mark.parametrize(("country", "basis"), [
    ("BE", LegalBasis.GDPR), ("fr", LegalBasis.GDPR), ("NO", LegalBasis.GDPR),
    ("IS", LegalBasis.GDPR), ("TR", LegalBasis.KVKK), ("MA", LegalBasis.NONE),
    ("RU", LegalBasis.NONE), ("CH", LegalBasis.NONE), ("GB", LegalBasis.NONE),
    (None, LegalBasis.NONE), ("", LegalBasis.NONE),
])
def test_the_law_cited_follows_the_patients_country(country: str | None,
                                                    basis: LegalBasis) -> None:
    assert legal_basis(country) is basis


def test_the_gdpr_countries_are_the_27_member_states_and_the_3_eea_states() -> None:
    assert len(EEA) == 30 and {"DE", "PL", "LI"} <= EEA and "GB" not in EEA


# (language, basis, phrases the letter must contain in that language)
CASES = [
    ("en", LegalBasis.GDPR, ["Article 15 of the General Data Protection Regulation (EU) "
                             "2016/679 (GDPR)", "within one month of its receipt",
                             "Article 15(3) GDPR, the first copy is provided free of charge",
                             "December 6, 2026", "May 14, 2015"]),
    ("fr", LegalBasis.GDPR, ["article 15 du règlement (UE) 2016/679",
                             "(RGPD)", "dans un délai d'un mois", "gratuitement",
                             "6 décembre 2026", "14 mai 2015", "Madame, Monsieur,"]),
    ("nl", LegalBasis.GDPR, ["artikel 15 van de Algemene verordening gegevensbescherming",
                             "(AVG)", "binnen een maand na ontvangst", "kosteloos",
                             "14 mei 2015"]),
    ("ru", LegalBasis.GDPR, ["статьёй 15 Общего регламента по защите данных (ЕС) 2016/679",
                             "в течение одного месяца", "бесплатно", "14 мая 2015"]),
    ("tr", LegalBasis.KVKK, ["6698 sayılı Kişisel Verilerin Korunması Kanunu",
                             "11. maddesine", "Hasta Hakları Yönetmeliği'nin 16. maddesine",
                             "en geç otuz gün içinde ücretsiz", "14 Mayıs 2015"]),
    ("en", LegalBasis.KVKK, ["Article 11 of the Turkish Law No. 6698",
                             "within thirty days at the latest"]),
    ("en", LegalBasis.NONE, ["right to obtain a copy of their own medical records"]),
    ("ru", LegalBasis.NONE, ["права пациента на получение копии своей медицинской "
                             "документации"]),
]


@pytest.mark.parametrize(("lang", "basis", "phrases"), CASES)
def test_the_letter_cites_the_law_in_the_hospitals_language(
    lang: str, basis: LegalBasis, phrases: list[str]
) -> None:
    data = letter(lang, basis)
    text = pdf_text(data)
    assert data.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    for phrase in [*phrases, "Amira Benali", "CHU Ibn Rochd", "DICOM", "JPEG"]:
        assert phrase in text, (lang, phrase)


@pytest.mark.parametrize("lang", ["en", "fr", "nl", "ru", "tr", "ar"])
def test_without_a_known_law_no_statute_is_named(lang: str) -> None:
    text = pdf_text(letter(lang, LegalBasis.NONE))
    for cited in ("GDPR", "RGPD", "AVG", "KVKK", "2016/679", "6698"):
        assert cited not in text, (lang, cited)


@pytest.mark.parametrize("basis", list(LegalBasis))
def test_every_language_fits_the_letter_on_one_page_with_a_long_hospital_name(
    basis: LegalBasis,
) -> None:
    long_name = "Centre Hospitalier Universitaire " + "Saint-Vincent-de-Paul " * 6
    for lang in ("en", "fr", "nl", "ru", "tr", "ar"):
        data = letter(lang, basis, hospital=long_name.strip())
        assert len(PdfReader(io.BytesIO(data)).pages) == 1, (lang, basis)


def arabic_letters(text: str) -> str:
    """Only the Arabic letters of a text: the extraction puts stray codes between the joined
    forms whose dots are separate glyphs, which map back to no character."""
    return "".join(c for c in text if "\u0621" <= c <= "\u064a")


def test_the_arabic_letter_is_shaped_right_to_left_in_an_arabic_font() -> None:
    data = letter("ar", LegalBasis.KVKK, name="Amira Benali")
    reader = PdfReader(io.BytesIO(data))
    fonts = {str(font.get_object()["/BaseFont"]).split("+")[-1]
             for font in reader.pages[0]["/Resources"]["/Font"].values()}
    assert "NotoSansArabic" in fonts
    text = pdf_text(data)
    for token in ("KVKK", "6698", "Amira Benali", "CHU Ibn Rochd"):
        assert token in text, token
    # Short lines read back in logical order; longer ones come out in pieces in pypdf's
    # extraction, so the check keeps to labels that stand on their own line.
    letters_only = arabic_letters(text)
    for word in ("قسم السجلات الطبية", "تاريخ الميلاد", "التوقيع", "ديسمبر"):
        assert arabic_letters(word) in letters_only, word
    # Shaping replaced the letters by their joined forms: the page's glyph codes are not
    # the characters' code points, as they would be for unshaped text.
    content = reader.pages[0].get_contents()
    assert content is not None and "السجلات".encode("utf-16-be") not in content.get_data()


def test_a_latin_letter_draws_an_arabic_name_with_the_arabic_font() -> None:
    data = letter("fr", LegalBasis.GDPR, name="محمد عبد الله")
    fonts = {str(font.get_object()["/BaseFont"]).split("+")[-1]
             for font in PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"].values()}
    assert fonts == {"NotoSans", "NotoSansArabic"}
    assert "article 15 du règlement (UE) 2016/679" in pdf_text(data)


# Letters of the scripts of the families' languages (Arabic aside: its joined forms do not all
# map back to characters in a text extraction, see above) and beyond, up to Cyrillic.
LETTERS = st.characters(codec="utf-8", categories=("Lu", "Ll"), max_codepoint=0x04FF)
NAMES = st.lists(st.text(LETTERS, min_size=1, max_size=15), min_size=1, max_size=4).map(" ".join)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, hospital=NAMES, lang=st.sampled_from(["en", "fr", "nl", "ru", "tr", "ar"]),
       basis=st.sampled_from(list(LegalBasis)))
def test_any_name_and_hospital_the_fonts_draw_appear_in_the_pdf(
    name: str, hospital: str, lang: str, basis: LegalBasis
) -> None:
    # A name with letters no font has is refused before the letter is drawn (the handler
    # tells the family); everything else must come out whole.
    assume(not uncovered(name + hospital))
    text = re.sub(r"\s", "", pdf_text(letter(lang, basis, name=name, hospital=hospital)))
    assert re.sub(r"\s", "", name) in text
    assert re.sub(r"\s", "", hospital) in text


def test_letters_no_font_draws_are_found_before_a_letter_is_drawn() -> None:
    assert uncovered("Amira Benali محمد Şükrü Ёлкина Ἀθῆναι") == ""
    assert uncovered("Ϣ 李小龙") == "Ϣ小李龙"


@settings(deadline=None, max_examples=15)
@given(name=st.text(st.characters(min_codepoint=0x0621, max_codepoint=0x064A),
                    min_size=1, max_size=30),
       lang=st.sampled_from(["ar", "fr", "ru"]))
def test_any_arabic_name_renders_without_error(name: str, lang: str) -> None:
    assert letter(lang, LegalBasis.NONE, name=name).startswith(b"%PDF-")


def test_the_details_come_from_the_intake_answers_and_a_letter_needs_both() -> None:
    answers = {"patient_name": " Amira Benali ", "patient_birth_date": "2015-05-14"}
    assert letter_details(answers) == ("Amira Benali", "2015-05-14")
    assert letter_details({"patient_name": "Amira Benali"}) is None
    assert letter_details({**answers, "patient_birth_date": "14/05/2015"}) is None


def test_a_hospital_name_is_kept_on_one_line_and_bounded() -> None:
    assert clean_hospital("  CHU\nIbn   Rochd ") == "CHU Ibn Rochd"
    assert clean_hospital("   ") is None
    assert clean_hospital("x" * 201) is None

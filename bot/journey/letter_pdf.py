"""The records-request letter as an A4 PDF, in the hospital's language.

fpdf2 lays the text out; HarfBuzz (through uharfbuzz) shapes it, which Arabic needs for its
joined letter forms and right-to-left order. The fonts are Noto Sans (Latin, Greek, Cyrillic)
and Noto Sans Arabic, installed from the lock as Python packages (SIL Open Font License), so
nothing depends on the machine's own fonts. Each font falls back on the other, so an Arabic
name in a French letter (or a Latin hospital name in an Arabic one) is drawn too.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import fontpkg_noto_sans
import fontpkg_noto_sans_arabic
from babel.dates import format_date
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from bot.i18n.render import Renderer
from intake.prompts import Text
from intake.records_letter import LegalBasis, letter_content

LATIN = "NotoSans"
ARABIC = "NotoSansArabic"
RTL_LANGUAGES = frozenset({"ar"})
SIZE = 10.5
LINE = 5.2
BLANK = "_" * 28


@cache
def _font_files() -> tuple[Path, Path]:
    """The regular instances of the two variable fonts (their default axes)."""
    latin = fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf"
    arabic = fontpkg_noto_sans_arabic.ROOT / "files" / "NotoSansArabic[wdth,wght].ttf"
    return latin, arabic


@cache
def _covered() -> frozenset[int]:
    """The code points the two fonts draw."""
    points: set[int] = set()
    for path in _font_files():
        with TTFont(path, lazy=True) as font:
            points.update(font.getBestCmap())
    return frozenset(points)


def uncovered(text: str) -> str:
    """The characters of `text` neither font can draw (fpdf2 would leave them out silently,
    and a letter must not print a name with letters missing)."""
    covered = _covered()
    return "".join(sorted({c for c in text if not c.isspace() and ord(c) not in covered}))


def _document(lang: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=16)
    latin, arabic = _font_files()
    pdf.add_font(LATIN, "", latin)
    pdf.add_font(ARABIC, "", arabic)
    main, other = (ARABIC, LATIN) if lang in RTL_LANGUAGES else (LATIN, ARABIC)
    pdf.set_font(main, size=SIZE)
    pdf.set_fallback_fonts([other], exact_match=False)
    if lang in RTL_LANGUAGES:
        pdf.set_text_shaping(True, direction="rtl", script="arab", language="ara")
    else:
        pdf.set_text_shaping(True)
    pdf.set_creator("Second opinion intake")
    pdf.set_lang(lang)
    return pdf


def render_letter(renderer: Renderer, lang: str, *, patient_name: str, birth_date: date,
                  hospital: str, today: date, basis: LegalBasis) -> bytes:
    """The letter's PDF bytes; dates are written the way the letter's language writes them."""
    content = letter_content(patient_name, format_date(birth_date, "long", locale=lang),
                             hospital, format_date(today, "long", locale=lang), basis)

    def say(text: Text) -> str:
        return renderer.text(text, lang)

    align = Align.R if lang in RTL_LANGUAGES else Align.L
    pdf = _document(lang)
    pdf.add_page()
    pdf.set_title(say(content.title))

    def paragraph(text: str, *, size: float = SIZE, gap: float = 2.5) -> None:
        pdf.set_font_size(size)
        pdf.multi_cell(0, LINE * size / SIZE, text, align=align,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    paragraph(say(content.date_line), gap=4)
    paragraph(say(content.addressee), gap=5)
    paragraph(say(content.title), size=13, gap=4)
    for line in content.patient_lines:
        paragraph(say(line), gap=0.5)
    pdf.ln(4)
    for text in content.body:
        paragraph(say(text))
    for text in content.closing:
        paragraph(say(text), gap=0.5)
    pdf.ln(5)
    # A blank to fill in by hand after each label; the signature gets room above its line.
    for text in content.signature_lines:
        paragraph(f"{say(text)} {BLANK}", gap=3)
    return bytes(pdf.output())

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
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from bot.i18n.render import Renderer
from intake.prompts import Text
from intake.records_letter import LegalBasis, letter_content

LATIN = "NotoSans"
ARABIC = "NotoSansArabic"
RTL_LANGUAGES = frozenset({"ar"})
LINE = 6.0


@cache
def _font_files() -> tuple[Path, Path]:
    """The regular instances of the two variable fonts (their default axes)."""
    latin = fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf"
    arabic = fontpkg_noto_sans_arabic.ROOT / "files" / "NotoSansArabic[wdth,wght].ttf"
    return latin, arabic


def _document(lang: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_margins(22, 22, 22)
    pdf.set_auto_page_break(True, margin=22)
    latin, arabic = _font_files()
    pdf.add_font(LATIN, "", latin)
    pdf.add_font(ARABIC, "", arabic)
    main, other = (ARABIC, LATIN) if lang in RTL_LANGUAGES else (LATIN, ARABIC)
    pdf.set_font(main, size=11)
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

    def paragraph(text: str, *, size: float = 11, gap: float = 3, align_to: Align = align) -> None:
        pdf.set_font_size(size)
        pdf.multi_cell(0, LINE * size / 11, text, align=align_to,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    paragraph(say(content.date_line), gap=6)
    paragraph(say(content.addressee), gap=6)
    paragraph(say(content.title), size=14, gap=5)
    for line in content.patient_lines:
        paragraph(say(line), gap=1)
    pdf.ln(5)
    for text in content.body:
        paragraph(say(text))
    for text in content.closing:
        paragraph(say(text), gap=1)
    pdf.ln(8)
    for text in content.signature_lines:
        paragraph(say(text), gap=1)
        paragraph("_" * 60, gap=4)
    return bytes(pdf.output())

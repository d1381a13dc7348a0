"""What a received file is, and which checklist item it probably covers.

`sniff` trusts the bytes, never the name or the declared content type: a PDF renamed
`scan.dcm` is a PDF (and `claims_dicom` lets the caller report the false claim). It only reads
the first bytes; `bot.documents.content_types` finishes the judgement where the head cannot (a
whole text file, the parts list of a ZIP that may be a Word document). `guess_item` reads the file
name (and an optional caption) for words in the six languages families write in; when no item or
more than one fits, it returns None and the family is asked.

Deliberately not keywords: a bare "scan" (phone scanner apps name every document "Scan ...")
and "results"/"report" (every document is one).
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePosixPath
from types import MappingProxyType

from intake.checklist import ItemKind
from intake.normalize import fold, fold_words

__all__ = [
    "ALLOWED_TYPES",
    "SNIFF_BYTES",
    "FileType",
    "claims_dicom",
    "guess_item",
    "sniff",
]

SNIFF_BYTES = 4096


class FileType(StrEnum):
    """The kinds of file the intake knows; anything else is UNKNOWN and refused."""

    DICOM = "dicom"
    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"
    HEIC = "heic"
    WEBP = "webp"
    ZIP = "zip"
    DOCX = "docx"
    ODT = "odt"
    TEXT = "text"
    UNKNOWN = "unknown"


ALLOWED_TYPES = frozenset(FileType) - {FileType.UNKNOWN}

_PNG = b"\x89PNG\r\n\x1a\n"
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_GENERIC = frozenset({b"mif1", b"msf1"})
_DICOM_EXTENSIONS = frozenset({".dcm", ".dicom", ".dic"})
_DOCUMENT_EXTENSIONS = frozenset(
    {".pdf", ".jpg", ".jpeg", ".png", ".heic", ".webp", ".zip", ".docx", ".odt", ".txt",
     ".csv"}
)
# Plain text: tab, line feed and a carriage return before a line feed; no other control.
_TEXT_CONTROLS = frozenset("\t\n")
# Markup and script openings that make "text" something a browser or a shell would run.
ACTIVE_TEXT = re.compile(
    r"<\s*(?:(?:!doctype|html|head|body|script|svg|iframe|frame|object|embed|meta|link|"
    r"style|img|form|base|math|template|a|\?xml|\?php)\b|hta:|%)"
    r"|javascript:|vbscript:|createobject\s*\(|wscript\.|powershell|cmd(?:\.exe)?\s+/[ck]"
    r"|invoke-expression|\biex\s*\(|document\.write",
    re.IGNORECASE,
)
# How scripts start (a shebang, a batch file's first line).
SCRIPT_START = re.compile(r"\A\ufeff?\s*(?:#!|@\s*echo|::|rem\s|set\s+\w+=)", re.IGNORECASE)


def _heic(head: bytes) -> bool:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return False
    major = head[8:12]
    if major in _HEIC_BRANDS:
        return True
    if major in _HEIF_GENERIC:
        (box,) = struct.unpack(">I", head[:4])
        return any(brand in head[8 : min(box, len(head))] for brand in _HEIC_BRANDS)
    return False


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A DICOM dataset without the Part 10 preamble: starts with a group 0008 element."""
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    return group in {0x0002, 0x0008} and element < 0x0100


def plain_text_problem(text: str, *, at_start: bool = True) -> bool:
    """Whether decoded text holds a control character or markup/script-looking content."""
    stripped = text.replace("\r\n", "\n")
    if any(not ch.isprintable() and ch not in _TEXT_CONTROLS for ch in stripped):
        return True
    if at_start and SCRIPT_START.match(text):
        return True
    return ACTIVE_TEXT.search(text) is not None


def _text(head: bytes) -> bool:
    if not head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        # Not final: the sample may end inside a multi-byte character.
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return False
    # A sample cut between a carriage return and its line feed still reads as a line end.
    return not plain_text_problem(text.removesuffix("\r"))


def sniff(
    first_bytes: bytes,
    filename: str = "",
    content_type: str | None = None,
    *,
    in_dicomdir_folder: bool = False,
) -> FileType:
    """Tell what a file is from its first bytes (pass `SNIFF_BYTES` of them).

    `content_type` (what the sender declared) is accepted for the callers' convenience and
    never decides anything.
    """
    head = first_bytes
    name = PurePosixPath(filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    if head[128:132] == b"DICM":
        return FileType.DICOM
    # Office documents are ZIPs too: `bot.documents.content_types.zip_kind` tells them apart from
    # the archive's own parts list, never from the name.
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return FileType.ZIP
    # At offset 0 only: readers that search the first kilobyte accept polyglots (an .exe
    # carrying "%PDF-" after its own header).
    if head.startswith(b"%PDF-"):
        return FileType.PDF
    if head.startswith(b"\xff\xd8\xff"):
        return FileType.JPEG
    if head.startswith(_PNG):
        return FileType.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileType.WEBP
    if _heic(head):
        return FileType.HEIC
    # CDs written by old software hold bare datasets, typically with no extension at all.
    raw_dataset = _looks_like_raw_dataset(head)
    if in_dicomdir_folder and suffix not in _DOCUMENT_EXTENSIONS and raw_dataset:
        return FileType.DICOM
    if _text(head[:SNIFF_BYTES]):
        return FileType.TEXT
    return FileType.UNKNOWN


def claims_dicom(filename: str, content_type: str | None = None) -> bool:
    """Whether the name or declared type says DICOM, to report a file that lies about it."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    declared = (content_type or "").split(";")[0].strip().lower()
    return suffix in _DICOM_EXTENSIONS or declared == "application/dicom"


# Keywords as typed in file names, folded like everything else that is matched. Up to three
# letters must be a whole word ("CT", "МРТ"); longer ones start a word ("labo" in
# "laboratoire", "анализ" in "анализы"); Arabic ones may sit anywhere, after "ال" or "و".
# fmt: off
_KEYWORDS: Mapping[ItemKind, tuple[str, ...]] = MappingProxyType(
    {
        ItemKind.LAB_RESULTS: (
            "lab", "labo", "labresult", "bloed", "blood", "bilan", "biolog", "biochim",
            "hemogram", "nfs", "cbc", "sang", "serolog", "tahlil", "analiz", "kan", "hormon",
            "анализ", "кров", "лаборатор", "биохим",
            "تحليل", "تحاليل", "مختبر", "مخبر", "فحوصات",
        ),
        ItemKind.PATHOLOGY_REPORT: (
            "path", "patholog", "patolog", "anapath", "anatomopath", "biops", "biopt",
            "histo", "cytolog", "sitoloj", "patoloj",
            "патолог", "гистолог", "биопс", "цитолог",
            "خزعة", "باثولوج", "أنسجة", "علم الأمراض",
        ),
        ItemKind.OPERATIVE_REPORT: (
            "operat", "chirurg", "surg", "ameliyat", "ingreep", "cro",
            "операц", "хирург",
            "عملية", "جراح",
        ),
        ItemKind.REFERRAL_LETTER: (
            "referral", "referring", "verwijs", "lettre", "letter", "courrier", "sevk",
            "epikriz", "discharge", "ontslag", "hospitalis", "napravlen", "vypisk",
            "направлен", "выписк", "эпикриз", "письмо",
            "إحالة", "تحويل", "رسالة", "خروج",
        ),
        ItemKind.IMAGING_REPORT: (
            "ct", "mri", "irm", "mrt", "mr", "kt", "pet", "petct", "ctscan", "tdm", "rx",
            "usg", "echo", "xray", "scanner", "radiolog", "radyoloj", "tomogra",
            "tomodensit", "echograph", "echografie", "ultrason", "ultrasound", "mammo",
            "rontgen", "radiograph", "scintig", "sintigraf", "imaging", "imagerie",
            "beeldvorming", "goruntu", "manyetik", "angiogra", "doppler",
            "мрт", "кт", "узи", "рентген", "томограф", "радиолог", "маммограф",
            "أشعة", "رنين", "مقطعي", "سونار", "تصوير",
        ),
        ItemKind.TREATMENT_HISTORY: (
            "treatment", "traitement", "behandel", "medicat", "medicament", "medicijn",
            "ilac", "tedavi", "chemo", "kemoterapi", "ordonnance", "prescription",
            "лечени", "препарат", "химиотерап", "рецепт",
            "علاج", "أدوية", "وصفة",
        ),
    }
)
# fmt: on


def _is_arabic(word: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in word)


def _compile() -> Mapping[ItemKind, tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]]:
    table = {}
    for kind, words in _KEYWORDS.items():
        folded = [fold(word) for word in words]
        exact = frozenset(w for w in folded if len(w) <= 3 and not _is_arabic(w))
        prefixes = tuple(w for w in folded if len(w) > 3 and not _is_arabic(w))
        anywhere = tuple(w for w in folded if _is_arabic(w))
        table[kind] = (exact, prefixes, anywhere)
    return MappingProxyType(table)


_MATCHERS = _compile()
_WORD_BREAKS = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=\D)(?=\d)|(?<=\d)(?=\D)"
)
# Phone scanner apps name every document after themselves ("CamScanner 01-02-2024").
_SCANNER_APPS = re.compile(r"camscanner|genius ?scan|adobe ?scan|scanned", re.IGNORECASE)


def _kinds_in(text: str) -> set[ItemKind]:
    words = fold_words(_WORD_BREAKS.sub(" ", _SCANNER_APPS.sub(" ", text)))
    tokens = words.split()
    # "X-ray", "PET CT": a short keyword written in two pieces.
    tokens += [a + b for a, b in zip(tokens, tokens[1:], strict=False)]
    found = set()
    for kind, (exact, prefixes, anywhere) in _MATCHERS.items():
        if (
            any(token in exact for token in tokens)
            or any(token.startswith(prefixes) for token in tokens)
            or any(word in words for word in anywhere)
        ):
            found.add(kind)
    return found


def guess_item(
    filename: str, file_type: FileType, text_hint: str | None = None
) -> ItemKind | None:
    """The checklist item a file most likely covers, or None when unsure (ask the family)."""
    if file_type is FileType.DICOM:
        return ItemKind.IMAGING_DICOM
    if file_type not in ALLOWED_TYPES or file_type is FileType.ZIP:
        return None
    stem = PurePosixPath(filename.replace("\\", "/")).stem
    for text in (stem, text_hint or ""):
        kinds = _kinds_in(text)
        if len(kinds) == 1:
            return kinds.pop()
        if kinds:
            return None
    return None

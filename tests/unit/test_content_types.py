"""What is accepted is decided on whole content: text read to its end, ZIPs by their parts."""

from __future__ import annotations

import io
import zipfile

import pytest

from bot.documents.content_types import (
    dangerous_name,
    download_headers,
    stored_type,
    text_is_plain,
    zip_kind,
)
from bot.documents.kinds import FileType

DOCX_TYPES = (
    b'<?xml version="1.0"?><Types><Override PartName="/word/document.xml" ContentType='
    b'"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
XLSX_TYPES = (
    b'<?xml version="1.0"?><Types><Override PartName="/xl/workbook.xml" ContentType='
    b'"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)


def zipped(members: dict[str, bytes]) -> io.BytesIO:
    """An in-memory ZIP of these members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({"[Content_Types].xml": DOCX_TYPES, "word/document.xml": b"<w/>"}, FileType.DOCX),
        ({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"},
         FileType.ODT),
        ({"[Content_Types].xml": XLSX_TYPES, "xl/workbook.xml": b"<x/>"}, FileType.UNKNOWN),
        ({"[Content_Types].xml": DOCX_TYPES, "word/vbaProject.bin": b"\x00"},
         FileType.UNKNOWN),
        ({"[Content_Types].xml": DOCX_TYPES, "word/embeddings/oleObject1.bin": b"\x00"},
         FileType.UNKNOWN),
        ({"[Content_Types].xml": DOCX_TYPES,
          "word/printerSettings/printerSettings1.bin": b"\x00"}, FileType.DOCX),
        ({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}, FileType.UNKNOWN),
        ({"mimetype": b"application/vnd.oasis.opendocument.text", "Basic/Standard/m.xml": b""},
         FileType.UNKNOWN),
        ({"CD/DICOMDIR": b"x", "report.pdf": b"%PDF-1.4"}, FileType.ZIP),
    ],
)
def test_a_zip_is_an_archive_a_word_or_odt_text_or_refused(
    members: dict[str, bytes], expected: FileType
) -> None:
    assert zip_kind(zipped(members)) is expected


def test_text_is_read_to_its_end_and_markup_far_down_is_refused() -> None:
    clean = ("Hémoglobine 13,5 g/dl\r\n" * 50_000).encode()
    assert text_is_plain(io.BytesIO(clean))
    assert not text_is_plain(io.BytesIO(clean + b"<script>fetch('/x')</script>"))
    assert not text_is_plain(io.BytesIO(clean + b"\x1b[2J"))
    assert not text_is_plain(io.BytesIO(clean[:-3] + b"\xff\xfe"))


def test_markup_split_across_two_reads_is_still_seen() -> None:
    padding = b"a" * (256 * 1024 - 4)
    assert not text_is_plain(io.BytesIO(padding + b"<svg onload=alert(1)>"))


@pytest.mark.parametrize(
    "name",
    ["invoice.bat", "scan.hta", "report.HTML", "chart.svg", "setup.exe", "x.pdf.exe",
     "a.js", "run.ps1", "report.docm", "CD/autorun.inf", "scan.exe. "],
)
def test_names_of_programs_pages_and_scripts_are_dangerous(name: str) -> None:
    assert dangerous_name(name)


@pytest.mark.parametrize("name", ["report.pdf", "IM000001", "labs.txt", "letter.docx"])
def test_names_of_documents_are_not_dangerous(name: str) -> None:
    assert not dangerous_name(name)


def test_an_exe_with_a_pdf_marker_in_its_first_kilobyte_is_no_accepted_type() -> None:
    polyglot = b"MZ\x90\x00" + bytes(200) + b"%PDF-1.7\n" + bytes(2000)
    assert stored_type(io.BytesIO(polyglot), "report.pdf") is FileType.UNKNOWN


def test_downloads_are_named_and_typed_by_detection_never_by_the_family() -> None:
    headers = download_headers("pdf", b"", "SO-ABC123", 7)
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == 'attachment; filename="SO-ABC123-7.pdf"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    legacy = download_headers(None, b"<html><script>", "SO-ABC123", 8)
    assert legacy["Content-Type"] == "application/octet-stream"
    assert legacy["Content-Disposition"].endswith('-8.bin"')
    assert download_headers(None, b"%PDF-1.4", None, 9)["Content-Disposition"] == (
        'attachment; filename="document-9.pdf"')

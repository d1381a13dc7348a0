"""The allow-list of what families may send, judged on whole content, and how it is served.

`bot.documents.kinds.sniff` reads the first bytes. Here the judgement is finished where the head
cannot decide: a plain-text file is read to its end (valid UTF-8, no control characters but
tab and line ends, nothing that looks like markup or a script), a ZIP's parts list tells a
Word or OpenDocument text from an archive of files (and refuses other Office formats and
macro-carrying documents). A name that says "program", "web page" or "script" is refused
whatever the bytes, so nothing reaches coordinators under such a name.

Downloads never reuse the family's name or extension: `served_as` gives the Content-Type and
extension of the detected type, and anything unknown is `application/octet-stream` / `.bin`.
"""

from __future__ import annotations

import codecs
import zipfile
import zlib
from pathlib import PurePosixPath
from typing import BinaryIO

from bot.documents.kinds import ALLOWED_TYPES, SNIFF_BYTES, FileType, plain_text_problem, sniff

__all__ = [
    "BINARY",
    "DANGEROUS_SUFFIXES",
    "dangerous_name",
    "served_as",
    "stored_type",
    "text_is_plain",
    "zip_kind",
]

# The value of `documents.detected_type` for bytes kept without an accepted type (a file
# whose inspection crashed): served as opaque bytes.
BINARY = "binary"
READ_CHUNK = 256 * 1024
# Markup or script split across two chunks is still seen: each scan keeps this much overlap.
_OVERLAP = 64
_MAX_OFFICE_INDEX = 1 << 20
_DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"

# Not ".img": some scanners name DICOM instances so (their bytes decide, as for any file).
DANGEROUS_SUFFIXES = frozenset({
    ".exe", ".com", ".bat", ".cmd", ".scr", ".pif", ".cpl", ".dll", ".msi", ".msp", ".msc",
    ".hta", ".htm", ".html", ".xhtml", ".shtml", ".mht", ".mhtml", ".svg", ".svgz", ".xml",
    ".xsl", ".js", ".mjs", ".jse", ".vbs", ".vbe", ".wsf", ".wsh", ".ps1", ".psm1", ".psd1",
    ".sh", ".bash", ".zsh", ".py", ".pl", ".rb", ".php", ".jar", ".lnk", ".url", ".reg",
    ".inf", ".chm", ".iso", ".vhd", ".vhdx", ".app", ".apk", ".dmg", ".pkg",
    ".docm", ".dotm", ".xlsm", ".pptm", ".swf", ".scf", ".gadget", ".application",
})

_SERVED: dict[str, tuple[str, str]] = {
    FileType.PDF: ("application/pdf", "pdf"),
    FileType.JPEG: ("image/jpeg", "jpg"),
    FileType.PNG: ("image/png", "png"),
    FileType.HEIC: ("image/heic", "heic"),
    FileType.WEBP: ("image/webp", "webp"),
    FileType.DICOM: ("application/dicom", "dcm"),
    FileType.ZIP: ("application/zip", "zip"),
    FileType.TEXT: ("text/plain; charset=utf-8", "txt"),
    FileType.DOCX: (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    FileType.ODT: ("application/vnd.oasis.opendocument.text", "odt"),
}
_OPAQUE = ("application/octet-stream", "bin")


def dangerous_name(name: str) -> bool:
    """Whether a file name says program, web page or script (refused whatever the bytes)."""
    base = PurePosixPath(name.replace("\\", "/")).name.casefold().rstrip(". ")
    return any(base.endswith(suffix) for suffix in DANGEROUS_SUFFIXES)


def served_as(detected: str | None) -> tuple[str, str]:
    """The Content-Type and extension a stored document is downloaded with."""
    return _SERVED.get(detected or "", _OPAQUE)


def text_is_plain(fileobj: BinaryIO) -> bool:
    """Blocking: the whole file is UTF-8 plain text (no controls, markup or script)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    tail = ""
    first = True
    while True:
        chunk = fileobj.read(READ_CHUNK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            return False
        window = tail + text
        # A line end split between two chunks is judged with its second half.
        checked = window.removesuffix("\r") if chunk else window
        if plain_text_problem(checked, at_start=first):
            return False
        first = False
        tail = window[-_OVERLAP:]
        if not chunk:
            return True


def zip_kind(fileobj: BinaryIO) -> FileType:
    """Blocking: a ZIP's real nature from its parts list (archive, DOCX, ODT or refused)."""
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = {info.filename: info for info in archive.infolist()}
            if "[Content_Types].xml" in names:
                return _ooxml_kind(archive, names)
            if "mimetype" in names:
                info = names["mimetype"]
                if info.file_size > 200:
                    return FileType.UNKNOWN
                kind = archive.read(info).strip()
                # OpenDocument keeps macros under Basic/ and scripts under Scripts/.
                scripted = any(name.startswith(("Basic/", "Scripts/")) for name in names)
                return FileType.ODT if kind == _ODT_MIMETYPE and not scripted else (
                    FileType.UNKNOWN)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError):
        return FileType.ZIP  # the archive reader reports what is wrong with it
    return FileType.ZIP


def _ooxml_kind(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> FileType:
    index = names["[Content_Types].xml"]
    if index.file_size > _MAX_OFFICE_INDEX or index.compress_size > _MAX_OFFICE_INDEX:
        return FileType.UNKNOWN
    content_types = archive.read(index)
    # Macros, ActiveX controls and embedded OLE packages (which can carry programs).
    active = ("vbaproject.bin", "vbadata.xml", "activex", "oleobject")
    macros = any(part in name.casefold() for name in names for part in active)
    if _DOCX_MAIN in content_types and not macros:
        return FileType.DOCX
    return FileType.UNKNOWN  # spreadsheets, presentations, macro-enabled documents


def stored_type(fileobj: BinaryIO, name: str = "", *, in_folder: bool = False) -> FileType:
    """Blocking: the accepted type of a whole stored file, or UNKNOWN (refuse it)."""
    head = fileobj.read(SNIFF_BYTES)
    kind = sniff(head, name, in_dicomdir_folder=in_folder)
    if kind is FileType.ZIP:
        fileobj.seek(0)
        kind = zip_kind(fileobj)
    elif kind is FileType.TEXT:
        fileobj.seek(0)
        kind = FileType.TEXT if text_is_plain(fileobj) else FileType.UNKNOWN
    return kind if kind in ALLOWED_TYPES else FileType.UNKNOWN


def download_headers(
    detected: str | None, head: bytes, reference: str | None, document_id: int
) -> dict[str, str]:
    """Headers of a coordinator's download: the detected type's Content-Type and extension
    under a generated name, never the family's; rows from before detection are sniffed."""
    if detected is None:
        kind = sniff(head[:SNIFF_BYTES])
        detected = kind.value if kind in ALLOWED_TYPES else BINARY
    content_type, extension = served_as(detected)
    prefix = "".join(c for c in (reference or "") if c.isascii() and (c.isalnum() or c == "-"))
    name = f"{prefix or 'document'}-{document_id}.{extension}"
    return {
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        # Opened in a tab anyway, the file runs nothing and reaches nothing.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    }

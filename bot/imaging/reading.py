"""What a received DICOM file is and whether it is whole.

pydicom parses silently what it cannot validate (FACTS.md section 3): `force=True` turns junk
into a Dataset and a truncated file reads without a word. So a file counts as valid DICOM only
when all of this holds:

- it has the Part 10 preamble ("DICM" at byte 128); raw datasets without one are accepted
  only when the caller asks (`allow_missing_preamble`, for files listed in a DICOMDIR);
- the four UIDs that place it in a study are present (`missing_uids`);
- nothing ends early: no top-level element is shorter than its declared length, an image
  SOP class has pixel data, native pixel data holds Rows x Columns x Samples x Bits/8 x
  Frames bytes, and encapsulated pixel data runs to its sequence delimiter (`truncated`).

Pixels are never loaded: the header is read with `stop_before_pixels` (pydicom then leaves the
file at the pixel data element), and its length is checked from the element header and the
file size; encapsulated fragments are skipped by their item headers. Memory stays small for
any file size: large values are deferred, and a guard refuses any single read above
`MAX_ELEMENT_READ` and more than `MAX_HEADER_READ` in all. Deflated files are reported as
`unsupported_syntax`, because pydicom inflates them whole in memory (a zip bomb in disguise).

Whose it seems to be is `bot.imaging.identity`; the studies a case holds, and what a DICOMDIR
promises, `bot.imaging.studies`. Run `inspect_dicom` in a worker thread (`inspect_dicom_async`
does). Reports never carry file names; callers must not log patient names or dates from them.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from enum import StrEnum
from typing import Any, BinaryIO, NamedTuple

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID

from bot.imaging.facts import image_facts

log = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
DEFER_SIZE = 256 * 1024
MAX_ELEMENT_READ = 64 * 1024 * 1024
MAX_HEADER_READ = 256 * 1024 * 1024
MAX_DICOMDIR_SIZE = 64 * 1024 * 1024

_REQUIRED_FIELDS = ("sop_class_uid", "sop_instance_uid", "study_uid", "series_uid")
_NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"})
_DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_TAGS = {0x7FE00010: None, 0x7FE00008: 32, 0x7FE00009: 64}  # tag: fixed bits or None
_PIXEL_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"})
_LONG_VRS = _PIXEL_VRS | {b"SQ", b"SV", b"UC", b"UR", b"UT", b"UV"}
_MAX_TRAILING_ELEMENTS = 10_000
_UNDEFINED = 0xFFFFFFFF
_ITEM, _SEQ_END = 0xFFFEE000, 0xFFFEE0DD
_RAW_DATASET_GROUPS = frozenset({0x0002, 0x0008})
_PYDICOM_MODULES = r"pydicom(\..*)?$"
_WARNING_FILTER = ("ignore", None, UserWarning, re.compile(_PYDICOM_MODULES), 0)


class DicomKind(StrEnum):
    """What inspection found: one stored instance, a DICOMDIR index, or not DICOM at all."""

    INSTANCE = "instance"
    DICOMDIR = "dicomdir"
    NOT_DICOM = "not_dicom"


class DicomProblem(StrEnum):
    """Why a file is not valid DICOM; the values are codes the UI translates."""

    NOT_DICOM = "not_dicom"
    MISSING_UIDS = "missing_uids"
    TRUNCATED = "truncated"
    UNSUPPORTED_SYNTAX = "unsupported_syntax"
    UNREADABLE = "unreadable"


_IDENTITY_FIELDS = ("patient_name", "patient_id", "patient_birth_date")
_PRIORITY = (DicomProblem.TRUNCATED, DicomProblem.MISSING_UIDS, DicomProblem.UNREADABLE)


class InvalidDicom(Exception):
    """A file is not the DICOM it should be; `code` is a `DicomProblem` value or `not_dicomdir`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = str(code)


@dataclass(frozen=True)
class DicomReport:
    """The metadata and verdict for one file; `summary()` is what the Document row keeps."""

    kind: DicomKind
    valid: bool
    problem: str | None = None
    modality: str | None = None
    body_part: str | None = None
    study_date: date | None = None
    study_description: str | None = None
    institution: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: date | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    number_of_frames: int | None = None
    rows: int | None = None
    columns: int | None = None
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    transfer_syntax_uid: str | None = None
    has_pixel_data: bool = False
    image: dict[str, Any] | None = None  # facts for the quality rules (`bot.imaging.facts`)

    def summary(self, *, identity: bool = False) -> dict[str, Any]:
        """A JSON-safe dict to store on the Document and rebuild with `from_summary`.

        The patient's name, id and birth date are left out unless `identity` is set: once
        `identity_matches` has run, the row needs the verdict, not the identity.
        """
        data = asdict(self)
        for name in ("study_date", "patient_birth_date"):
            value = data[name]
            data[name] = value.isoformat() if value else None
        data["kind"] = str(self.kind)
        if not identity:
            for name in _IDENTITY_FIELDS:
                del data[name]
        return data

    @classmethod
    def from_summary(cls, data: Mapping[str, Any]) -> DicomReport:
        """Rebuild a report stored with `summary()`, to aggregate a case's studies later."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("study_date", "patient_birth_date"):
            raw = values.get(name)
            try:
                values[name] = date.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:
                values[name] = None
        values["kind"] = DicomKind(values.get("kind", DicomKind.INSTANCE))
        values.setdefault("valid", values.get("problem") is None)
        return cls(**values)


def configure_pydicom() -> None:
    """Make pydicom quiet: no value validation warnings, no log lines that could quote data.

    This sets process-wide pydicom state on purpose; it is idempotent and cheap.
    """
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    # Its data-quality warnings ("Expected explicit VR...", EOF "in file <path>") say nothing
    # we act on and may quote values. Kept first in the filter list even when a test runner
    # resets the filters (filterwarnings moves an existing identical entry to the front).
    if not warnings.filters or warnings.filters[0] != _WARNING_FILTER:
        warnings.filterwarnings("ignore", category=UserWarning, module=_PYDICOM_MODULES)


class _ReadLimitExceeded(Exception):
    pass


class _WholeFileRead(Exception):
    """pydicom asked for the rest of the file at once: only deflated datasets do that."""


class GuardedFile:
    """The file pydicom sees: bounded reads, and no read-everything (deflate) allowed."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.total = 0
        self.short_reads = 0
        self.empty_reads = 0

    @property
    def ran_out(self) -> bool:
        """The parse hit the end of the file inside something, not between elements.

        A whole file ends with exactly one empty read (the probe for a next element).
        """
        return self.short_reads > 0 or self.empty_reads > 1

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise _WholeFileRead
        if size > MAX_ELEMENT_READ:
            raise _ReadLimitExceeded
        self.total += size
        if self.total > MAX_HEADER_READ:
            raise _ReadLimitExceeded
        data = self._fh.read(size)
        if len(data) < size:
            if data:
                self.short_reads += 1
            else:
                self.empty_reads += 1
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        """The caller owns the file."""


def _is_raw_dataset(head: bytes) -> bool:
    """A Part 10 file without preamble or a bare dataset: starts with group 0002 or 0008."""
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    return group in _RAW_DATASET_GROUPS and element < 0x0100


def _present(ds: Dataset, keyword: str) -> Any:
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    raw = ds.get_item(tag, keep_deferred=True)
    if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
        return None  # deferred: far larger than any sane value of these attributes
    try:
        return ds[tag].value
    except Exception:  # a malformed value is treated as absent
        return None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = _present(ds, keyword)
    if value is None:
        return None
    if isinstance(value, MultiValue | list | tuple):
        value = "\\".join(str(v) for v in value)
    text = str(value).replace("\x00", "").strip()
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = _present(ds, keyword)
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if value else None
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def _date(text: str | None) -> date | None:
    if not text:
        return None
    digits = text.replace(".", "").replace("-", "").strip()
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def short_element(ds: Dataset, size: int) -> bool:
    """A top-level element the file ended inside (pydicom reads short values silently)."""
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset converts each element
        raw = ds.get_item(tag, keep_deferred=True)
        if not isinstance(raw, RawDataElement) or raw.length == _UNDEFINED:
            continue
        if raw.value is None:
            if raw.value_tell + raw.length > size:
                return True
        elif len(raw.value) < raw.length:
            return True
    return False


def _expected_pixel_bytes(report: DicomReport, photometric: str | None) -> int | None:
    rows, columns, bits = report.rows, report.columns, report.bits_allocated
    if not rows or not columns or not bits:
        return None
    samples = report.samples_per_pixel or 1
    frames = report.number_of_frames if report.number_of_frames is not None else 1
    pixels = rows * columns * frames
    if bits == 1:
        return (pixels * samples + 7) // 8
    total = pixels * samples * (bits // 8)
    if photometric == "YBR_FULL_422" and samples == 3:
        total = total // 3 * 2
    return total


class _Header(NamedTuple):
    tag: int
    length: int
    value_offset: int
    endian: str
    explicit: bool


def _read_header(fh: BinaryIO, endian: str, explicit: bool) -> _Header | None:
    start = fh.tell()
    head = fh.read(8)
    if len(head) < 8:
        return None
    group, element = struct.unpack(endian + "HH", head[:4])
    if not explicit:
        (length,) = struct.unpack(endian + "I", head[4:])
        return _Header(group << 16 | element, length, start + 8, endian, explicit)
    if head[4:6] in _LONG_VRS:
        extra = fh.read(4)
        if len(extra) < 4:
            return None
        (length,) = struct.unpack(endian + "I", extra)
        return _Header(group << 16 | element, length, start + 12, endian, explicit)
    (length,) = struct.unpack(endian + "H", head[6:])
    return _Header(group << 16 | element, length, start + 8, endian, explicit)


def _read_pixel_header(fh: BinaryIO) -> _Header | None:
    """The pixel data element header at the current position, or None.

    The encoding is taken from the bytes, not the transfer syntax: some writers declare
    explicit VR and write implicit, and pydicom quietly follows the bytes.
    """
    start = fh.tell()
    head = fh.read(6)
    if len(head) < 6:
        return None
    for endian in "<>":
        group, element = struct.unpack(endian + "HH", head[:4])
        if group << 16 | element in _PIXEL_TAGS:
            fh.seek(start)
            return _read_header(fh, endian, explicit=head[4:6] in _PIXEL_VRS)
    return None


def _encapsulated_end(fh: BinaryIO, offset: int, size: int) -> int | None:
    """Skip the fragment items to the sequence delimiter; where it ends, or None if cut."""
    position = offset
    while True:
        fh.seek(position)
        head = fh.read(8)
        if len(head) < 8:
            return None
        group, element, length = struct.unpack("<HHI", head)
        tag = group << 16 | element
        if tag == _SEQ_END:
            return position + 8
        if tag != _ITEM or length == _UNDEFINED:
            return None
        position += 8 + length
        if position > size:
            return None


def _trailer_is_whole(fh: BinaryIO, position: int, size: int, pixels: _Header) -> bool:
    """The elements after the pixel data (rare: padding, signatures) all fit in the file."""
    for _ in range(_MAX_TRAILING_ELEMENTS):
        if position == size:
            return True
        fh.seek(position)
        header = _read_header(fh, pixels.endian, pixels.explicit)
        if header is None:
            return False
        if header.length == _UNDEFINED:
            return True  # a trailing sequence: too rare to walk, and not what families need
        position = header.value_offset + header.length
        if position > size:
            return False
    return True


def _pixel_problem(
    fh: BinaryIO, ds: Dataset, report: DicomReport, size: int
) -> tuple[bool, DicomProblem | None]:
    """(has pixel data, problem) from the element pydicom stopped at."""
    header = _read_pixel_header(fh)
    if header is None:
        expects = bool(report.rows and report.columns) or "Image Storage" in _uid_name(
            report.sop_class_uid
        )
        return False, DicomProblem.TRUNCATED if expects else None
    if header.length == _UNDEFINED:
        end = _encapsulated_end(fh, header.value_offset, size)
    else:
        end = header.value_offset + header.length
        if end > size:
            end = None
    if end is None or not _trailer_is_whole(fh, end, size, header):
        return True, DicomProblem.TRUNCATED
    syntax = report.transfer_syntax_uid
    if header.length != _UNDEFINED and (syntax is None or syntax in _NATIVE_SYNTAXES):
        bits = _PIXEL_TAGS[header.tag]
        if bits is not None:
            report = replace(report, bits_allocated=bits)
        expected = _expected_pixel_bytes(report, _text(ds, "PhotometricInterpretation"))
        if expected is None:
            return True, DicomProblem.UNREADABLE
        if header.length < expected:
            return True, DicomProblem.TRUNCATED
    return True, None


def _uid_name(uid: str | None) -> str:
    if not uid:
        return ""
    try:
        return str(UID(uid).name)
    except Exception:
        return ""


def _metadata(ds: Dataset) -> dict[str, Any]:
    meta = getattr(ds, "file_meta", None)
    syntax = None
    if meta is not None and "TransferSyntaxUID" in meta:
        syntax = _text(meta, "TransferSyntaxUID")
    return {
        "modality": _text(ds, "Modality"),
        "body_part": _text(ds, "BodyPartExamined"),
        "study_date": _date(_text(ds, "StudyDate")),
        "study_description": _text(ds, "StudyDescription"),
        "institution": _text(ds, "InstitutionName"),
        "patient_name": _text(ds, "PatientName"),
        "patient_id": _text(ds, "PatientID"),
        "patient_birth_date": _date(_text(ds, "PatientBirthDate")),
        "study_uid": _text(ds, "StudyInstanceUID"),
        "series_uid": _text(ds, "SeriesInstanceUID"),
        "sop_instance_uid": _text(ds, "SOPInstanceUID"),
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "number_of_frames": _int(ds, "NumberOfFrames"),
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "samples_per_pixel": _int(ds, "SamplesPerPixel"),
        "bits_allocated": _int(ds, "BitsAllocated"),
        "transfer_syntax_uid": syntax,
    }


def media_class(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    if meta is None or "MediaStorageSOPClassUID" not in meta:
        return None
    return _text(meta, "MediaStorageSOPClassUID")


def _not_dicom() -> DicomReport:
    return DicomReport(kind=DicomKind.NOT_DICOM, valid=False, problem=str(DicomProblem.NOT_DICOM))


def _failed(problem: DicomProblem) -> DicomReport:
    """A file that announces DICOM but could not be read far enough to say more."""
    return DicomReport(kind=DicomKind.INSTANCE, valid=False, problem=str(problem))


def _inspect(fh: BinaryIO, allow_missing_preamble: bool) -> DicomReport:
    size = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    head = fh.read(132)
    has_preamble = len(head) == 132 and head[128:132] == b"DICM"
    if not has_preamble and not (allow_missing_preamble and _is_raw_dataset(head)):
        return _not_dicom()
    fh.seek(0)
    guarded = GuardedFile(fh)
    try:
        ds = dcmread(
            guarded,
            stop_before_pixels=True,
            defer_size=DEFER_SIZE,
            force=not has_preamble,
        )
    except InvalidDicomError:
        return _not_dicom()
    except _WholeFileRead:
        return replace(_failed(DicomProblem.UNSUPPORTED_SYNTAX), transfer_syntax_uid=_DEFLATED)
    except _ReadLimitExceeded:
        return _failed(DicomProblem.UNREADABLE)
    except Exception as exc:  # pydicom raises OSError, struct.error... on hostile input
        if guarded.short_reads or guarded.empty_reads:
            return _failed(DicomProblem.TRUNCATED)
        log.info("dicom parse failed", extra={"error": type(exc).__name__})
        return _failed(DicomProblem.UNREADABLE)

    if media_class(ds) == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        whole = (
            "DirectoryRecordSequence" in ds
            and not guarded.ran_out
            and not short_element(ds, size)
        )
        return DicomReport(
            kind=DicomKind.DICOMDIR,
            valid=whole,
            problem=None if whole else str(DicomProblem.TRUNCATED),
            transfer_syntax_uid=_metadata(ds)["transfer_syntax_uid"],
        )
    report = DicomReport(kind=DicomKind.INSTANCE, valid=True, **_metadata(ds))
    if not has_preamble and not (report.sop_class_uid or report.modality):
        return _not_dicom()  # force=True parses junk into a dataset (FACTS.md 3)
    try:
        facts = image_facts(ds, report.sop_class_uid, report.transfer_syntax_uid)
    except Exception as exc:  # facts are advisory: a hostile header must not fail the file
        log.info("dicom facts failed", extra={"error": type(exc).__name__})
        facts = None
    report = replace(report, image=facts)
    problems: set[DicomProblem] = set()
    try:
        has_pixels, pixel_problem = _pixel_problem(fh, ds, report, size)
    except Exception as exc:
        log.info("dicom pixel check failed", extra={"error": type(exc).__name__})
        has_pixels, pixel_problem = False, DicomProblem.UNREADABLE
    if pixel_problem is not None:
        problems.add(pixel_problem)
    if guarded.ran_out or short_element(ds, size):
        problems.add(DicomProblem.TRUNCATED)
    if not all(getattr(report, name) for name in _REQUIRED_FIELDS):
        problems.add(DicomProblem.MISSING_UIDS)
    # Truncation is what the family can fix (send the file again), so it is reported first.
    problem = next((p for p in _PRIORITY if p in problems), None)
    return _with(report, has_pixel_data=has_pixels, problem=problem)


def _with(
    report: DicomReport, *, has_pixel_data: bool, problem: DicomProblem | None
) -> DicomReport:
    return replace(
        report,
        has_pixel_data=has_pixel_data,
        problem=str(problem) if problem else None,
        valid=problem is None,
    )


def inspect_dicom(
    source: str | os.PathLike[str] | BinaryIO, *, allow_missing_preamble: bool = False
) -> DicomReport:
    """Read a file's DICOM header and check it is whole; blocking, run it in a thread."""
    configure_pydicom()
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return _inspect(fh, allow_missing_preamble)
    return _inspect(source, allow_missing_preamble)


async def inspect_dicom_async(
    source: str | os.PathLike[str] | BinaryIO, *, allow_missing_preamble: bool = False
) -> DicomReport:
    """`inspect_dicom` in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(
        inspect_dicom, source, allow_missing_preamble=allow_missing_preamble
    )

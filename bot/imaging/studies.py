"""The studies a case holds, gathered from its instances, and what a DICOMDIR promises
(the files of a copied CD or folder), to tell a family what is missing."""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset

from bot.imaging.reading import (
    DICOMDIR_SOP_CLASS,
    MAX_DICOMDIR_SIZE,
    DicomKind,
    DicomProblem,
    DicomReport,
    GuardedFile,
    InvalidDicom,
    configure_pydicom,
    media_class,
    short_element,
)


@dataclass(frozen=True)
class StudySummary:
    """One imaging study as the coordinators see it, gathered from its instances."""

    study_uid: str
    modalities: tuple[str, ...]
    study_date: date | None
    description: str | None
    body_parts: tuple[str, ...]
    institution: str | None
    series_count: int
    instance_count: int
    frame_count: int
    invalid_count: int = 0


@dataclass(frozen=True)
class ReferencedFile:
    """One file a DICOMDIR lists: its path relative to the DICOMDIR's folder."""

    path: str
    sop_instance_uid: str | None


@dataclass(frozen=True)
class DicomDirIndex:
    """What a DICOMDIR promises: the files it references and the patients it names."""

    files: tuple[ReferencedFile, ...]
    patient_ids: tuple[str, ...] = field(default=())


def _record_value(record: Dataset, keyword: str) -> Any:
    try:
        return record.get(keyword)
    except Exception:  # a malformed record value is treated as absent
        return None


def _file_id(value: Any) -> str | None:
    """A DICOMDIR ReferencedFileID as a relative POSIX path, or None when unsafe."""
    parts = [value] if isinstance(value, str) else list(value or ())
    parts = [str(part).strip() for part in parts]
    if not parts or any(
        not part or part in {".", ".."} or "/" in part or "\\" in part or ":" in part
        for part in parts
    ):
        return None
    return "/".join(parts)


def read_dicomdir(source: str | os.PathLike[str] | BinaryIO) -> DicomDirIndex:
    """List the files and patients a DICOMDIR references, to check a folder upload is whole.

    Walks the directory records directly: `pydicom.fileset.FileSet` would also work but
    always creates a staging temporary directory that only its private state releases.
    Raises `InvalidDicom` ("not_dicom", "not_dicomdir", "truncated", "unreadable").
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return _read_dicomdir(fh)
    return _read_dicomdir(source)


def _read_dicomdir(fh: BinaryIO) -> DicomDirIndex:
    configure_pydicom()
    size = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    head = fh.read(132)
    if len(head) < 132 or head[128:] != b"DICM":
        raise InvalidDicom(DicomProblem.NOT_DICOM)
    if size > MAX_DICOMDIR_SIZE:
        raise InvalidDicom(DicomProblem.UNREADABLE)
    fh.seek(0)
    guarded = GuardedFile(fh)
    try:
        ds = dcmread(guarded)
        records = ds.get("DirectoryRecordSequence")
    except Exception:
        code = DicomProblem.TRUNCATED if guarded.short_reads else DicomProblem.UNREADABLE
        raise InvalidDicom(code) from None
    if media_class(ds) != DICOMDIR_SOP_CLASS or records is None:
        raise InvalidDicom("not_dicomdir")
    if guarded.ran_out or short_element(ds, size):
        raise InvalidDicom(DicomProblem.TRUNCATED)
    files: list[ReferencedFile] = []
    patients: list[str] = []
    for record in records:
        kind = str(_record_value(record, "DirectoryRecordType") or "").strip().upper()
        if kind == "PATIENT":
            patient_id = _record_value(record, "PatientID")
            if patient_id and str(patient_id) not in patients:
                patients.append(str(patient_id))
        path = _file_id(_record_value(record, "ReferencedFileID"))
        if path is not None:
            uid = _record_value(record, "ReferencedSOPInstanceUIDInFile")
            files.append(ReferencedFile(path=path, sop_instance_uid=str(uid) if uid else None))
    return DicomDirIndex(files=tuple(files), patient_ids=tuple(patients))


def missing_from_folder(
    index: DicomDirIndex, dicomdir_path: str, uploaded_paths: Iterable[str]
) -> tuple[str, ...]:
    """The files a DICOMDIR references that a folder upload did not include.

    Paths are the browser's relative paths (`webkitRelativePath`); comparison ignores case,
    as CDs are ISO 9660 and copies often change it.
    """
    base = dicomdir_path.replace("\\", "/").rpartition("/")[0]
    uploaded = {path.replace("\\", "/").casefold() for path in uploaded_paths}
    missing = []
    for ref in index.files:
        full = f"{base}/{ref.path}" if base else ref.path
        if full.casefold() not in uploaded:
            missing.append(full)
    return tuple(missing)


def summarize(reports: Iterable[DicomReport]) -> list[StudySummary]:
    """Group a case's DICOM instances into studies, counting each instance once."""
    studies: dict[str, dict[str, DicomReport]] = {}
    invalid: dict[str, set[str]] = {}
    for report in reports:
        if report.kind is not DicomKind.INSTANCE or not report.study_uid:
            continue
        if not report.valid:
            invalid.setdefault(report.study_uid, set()).add(report.sop_instance_uid or "")
            continue
        studies.setdefault(report.study_uid, {})[report.sop_instance_uid or ""] = report
    summaries = []
    for uid, instances in studies.items():
        items = list(instances.values())
        dates = [r.study_date for r in items if r.study_date]
        summaries.append(
            StudySummary(
                study_uid=uid,
                modalities=tuple(sorted({r.modality for r in items if r.modality})),
                study_date=min(dates) if dates else None,
                description=_most_common(r.study_description for r in items),
                body_parts=tuple(sorted({r.body_part for r in items if r.body_part})),
                institution=_most_common(r.institution for r in items),
                series_count=len({r.series_uid for r in items}),
                instance_count=len(items),
                frame_count=sum(max(r.number_of_frames or 1, 1) for r in items),
                invalid_count=len(invalid.get(uid, ())),
            )
        )
    for uid, bad in invalid.items():
        if uid not in studies:
            summaries.append(StudySummary(uid, (), None, None, (), None, 0, 0, 0, len(bad)))
    summaries.sort(key=lambda s: (s.study_date is None, s.study_date or date.min, s.study_uid))
    return summaries


def _most_common(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None


# Names for "nobody": anonymised exports and test images.

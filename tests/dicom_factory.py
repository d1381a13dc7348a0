"""Synthetic DICOM studies for tests and benchmarks: valid, uncompressed and quick to make.

Every instance is a Part 10 file (preamble, file meta, Explicit VR Little Endian) with the
four UIDs, patient and study attributes, and zero-filled pixel data built as bytes (numpy is
not needed). Defaults plus keyword overrides, like the other factories; any keyword of
`make_instance` can be passed to the study helpers. 512 x 512 x 16-bit instances come out at
about 350 MiB/s, so a 1 GiB study takes a few seconds.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

__all__ = [
    "Study",
    "instance_bytes",
    "iter_study",
    "make_instance",
    "write_dicomdir_folder",
    "write_study",
    "zip_files",
]

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
}
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class Study:
    """What was generated: the study's UIDs and where its files went."""

    study_uid: str
    series_uids: tuple[str, ...]
    paths: tuple[Path, ...] = ()


@lru_cache(maxsize=8)
def _zeros(length: int) -> bytes:
    return bytes(length)


def _da(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def make_instance(
    *,
    patient_name: str = "DOE^JOHN",
    patient_id: str = "P0001",
    birth_date: date | None = date(1980, 1, 2),
    modality: str = "CT",
    study_date: date | None = date(2024, 1, 15),
    description: str = "CT CHEST",
    body_part: str = "CHEST",
    institution: str = "General Hospital",
    rows: int = 16,
    columns: int = 16,
    bits_allocated: int = 16,
    samples_per_pixel: int = 1,
    frames: int = 1,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_instance_uid: str | None = None,
    sop_class_uid: str | None = None,
    series_number: int = 1,
    instance_number: int = 1,
) -> Dataset:
    """One valid image instance; every attribute has a default."""
    sop_class = UID(sop_class_uid or SOP_CLASSES.get(modality, SECONDARY_CAPTURE))
    sop_instance = UID(sop_instance_uid or generate_uid())

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = _da(study_date)
    ds.StudyTime = "101500"
    ds.AccessionNumber = "A0001"
    ds.Modality = modality
    ds.InstitutionName = institution
    ds.StudyDescription = description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = _da(birth_date)
    ds.BodyPartExamined = body_part
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SamplesPerPixel = samples_per_pixel
    ds.PhotometricInterpretation = "MONOCHROME2" if samples_per_pixel == 1 else "RGB"
    if samples_per_pixel > 1:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_allocated
    ds.HighBit = bits_allocated - 1
    ds.PixelRepresentation = 0
    pixels = rows * columns * samples_per_pixel * frames
    length = (pixels + 7) // 8 if bits_allocated == 1 else pixels * bits_allocated // 8
    ds.PixelData = _zeros(length + length % 2)
    return ds


def instance_bytes(**overrides: Any) -> bytes:
    """One valid instance as Part 10 file bytes."""
    buffer = io.BytesIO()
    dcmwrite(buffer, make_instance(**overrides), enforce_file_format=True)
    return buffer.getvalue()


def _instances(
    study_uid: str, series_uids: Sequence[str], instances: int, overrides: dict[str, Any]
) -> Iterator[tuple[str, bytes]]:
    for number in range(instances):
        index = number % len(series_uids)
        data = instance_bytes(
            **{
                **overrides,
                "study_uid": study_uid,
                "series_uid": series_uids[index],
                "series_number": index + 1,
                "instance_number": number + 1,
            }
        )
        yield f"SE{index + 1:03d}/IM{number + 1:05d}.dcm", data


def iter_study(
    *, instances: int = 3, series: int = 1, study_uid: str | None = None, **overrides: Any
) -> Iterator[tuple[str, bytes]]:
    """Generate a study lazily as (relative file name, bytes), instances spread over series.

    Lazy so a benchmark can stream gigabytes without holding them.
    """
    series_uids = [generate_uid() for _ in range(series)]
    yield from _instances(study_uid or generate_uid(), series_uids, instances, overrides)


def write_study(
    directory: Path,
    *,
    instances: int = 3,
    series: int = 1,
    study_uid: str | None = None,
    **overrides: Any,
) -> Study:
    """Write a study as files under `directory` (one subfolder per series)."""
    study_uid = study_uid or generate_uid()
    series_uids = [generate_uid() for _ in range(series)]
    paths: list[Path] = []
    for name, data in _instances(study_uid, series_uids, instances, overrides):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return Study(study_uid, tuple(series_uids), tuple(paths))


def write_dicomdir_folder(
    directory: Path, *, instances: int = 3, series: int = 1, **overrides: Any
) -> tuple[Path, Study]:
    """Write a study as a DICOM media folder (DICOMDIR + PT*/ST*/SE*/IM* files).

    Returns the DICOMDIR path and the study; files are named by pydicom's FileSet.
    """
    study_uid = generate_uid()
    file_set = FileSet()
    try:
        for _, data in iter_study(
            instances=instances, series=series, study_uid=study_uid, **overrides
        ):
            file_set.add(dcmread(io.BytesIO(data)))
        directory.mkdir(parents=True, exist_ok=True)
        file_set.write(directory)
        paths = tuple(Path(instance.path) for instance in file_set)
        series_uids = tuple(dict.fromkeys(str(i.SeriesInstanceUID) for i in file_set))
    finally:
        # pydicom 3.0.2 stages into a TemporaryDirectory it never closes publicly.
        file_set._stage["t"].cleanup()
    return directory / "DICOMDIR", Study(study_uid, series_uids, paths)


def zip_files(
    zip_path: Path,
    members: Iterable[tuple[str, bytes | Path]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write (archive name, bytes or file) pairs into a ZIP."""
    with zipfile.ZipFile(zip_path, "w", compression=compression) as archive:
        for name, content in members:
            if isinstance(content, Path):
                archive.write(content, name)
            else:
                archive.writestr(name, content)
    return zip_path

"""Synthetic DICOM studies for tests and benchmarks: valid, uncompressed and quick to make.

Every instance is a Part 10 file (preamble, file meta, Explicit VR Little Endian) with the
four UIDs, patient and study attributes, and zero-filled pixel data built as bytes (numpy is
not needed). Defaults plus keyword overrides, like the other factories; any keyword of
`make_instance` can be passed to the study helpers. 512 x 512 x 16-bit instances come out at
about 350 MiB/s, so a 1 GiB study takes a few seconds.

Cross-sectional instances (CT, MR, PT) are axial slices of a contiguous stack by default
(`slice_thickness` apart, numbered from 1 in each series), so a generated study is what a
radiologist can read; `spacing`, `drop`, `image_type`, `conversion_type`, `transfer_syntax`
and the other keywords make the studies the quality rules must catch (`intake.imaging`).
`encapsulated_pdf_bytes` and `key_object_bytes` make the non-image objects.
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

from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.fileset import FileSet
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

__all__ = [
    "Study",
    "encapsulated_pdf_bytes",
    "instance_bytes",
    "key_object_bytes",
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
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
STACKED = frozenset({"CT", "MR", "PT"})
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


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
    image_type: Sequence[str] | None = None,
    slice_thickness: float = 1.0,
    slice_location: float | None = None,
    orientation: Sequence[float] | None = AXIAL,
    conversion_type: str | None = None,
    burned_in: str | None = None,
    series_description: str | None = None,
    window: tuple[float, float] | None = (40.0, 400.0),
    transfer_syntax: str = ExplicitVRLittleEndian,
    lossy: bool | None = None,
    gradient: bool = False,
) -> Dataset:
    """One valid image instance; every attribute has a default.

    Cross-sectional modalities get geometry (position `slice_location`, by default
    `instance_number` x `slice_thickness`); `gradient` fills the pixels with a ramp instead of
    zeros; a JPEG Baseline `transfer_syntax` compresses 8-bit pixels with Pillow.
    """
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
    stacked = modality in STACKED
    ds.ImageType = list(image_type or (["ORIGINAL", "PRIMARY", "AXIAL"] if stacked
                                       else ["ORIGINAL", "PRIMARY"]))
    if conversion_type:
        ds.ConversionType = conversion_type
    if burned_in:
        ds.BurnedInAnnotation = burned_in
    if series_description:
        ds.SeriesDescription = series_description
    if stacked and orientation is not None:
        location = instance_number * slice_thickness if slice_location is None else slice_location
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [0.0, 0.0, float(location)]
        ds.SliceThickness = slice_thickness
        ds.PixelSpacing = [0.7, 0.7]
    if window is not None and samples_per_pixel == 1:
        ds.WindowCenter, ds.WindowWidth = window
    if lossy is not None:
        ds.LossyImageCompression = "01" if lossy else "00"
    pixels = rows * columns * samples_per_pixel * frames
    length = (pixels + 7) // 8 if bits_allocated == 1 else pixels * bits_allocated // 8
    data = _ramp(length, bits_allocated) if gradient else _zeros(length + length % 2)
    if transfer_syntax == JPEGBaseline8Bit:
        meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate(_jpeg_frames(data, rows, columns, samples_per_pixel,
                                                frames))
        ds["PixelData"].VR = "OB"
        if samples_per_pixel == 3:
            ds.PhotometricInterpretation = "YBR_FULL_422"
    else:
        ds.PixelData = data + bytes(len(data) % 2)
    return ds


def _ramp(length: int, bits: int) -> bytes:
    """Pixels rising along each row: a picture with contrast, for previews."""
    if bits == 16:
        return b"".join(((i % 256) * 8).to_bytes(2, "little") for i in range(length // 2))
    return bytes(i % 256 for i in range(length))


def _jpeg_frames(
    data: bytes, rows: int, columns: int, samples: int, frames: int
) -> list[bytes]:
    size = rows * columns * samples
    mode = "RGB" if samples == 3 else "L"
    out = []
    for index in range(frames):
        image = Image.frombytes(mode, (columns, rows), data[index * size:(index + 1) * size])
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=75)
        out.append(buffer.getvalue())
    return out


def instance_bytes(**overrides: Any) -> bytes:
    """One valid instance as Part 10 file bytes."""
    return _file_bytes(make_instance(**overrides))


def _file_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _instances(
    study_uid: str, series_uids: Sequence[str], instances: int, overrides: dict[str, Any]
) -> Iterator[tuple[str, bytes]]:
    """Instances spread over the series; `spacing` places each series' slices that far apart
    (default: the slice thickness), `drop` leaves out these 1-based slice numbers."""
    overrides = dict(overrides)
    spacing = overrides.pop("spacing", None)
    drop = set(overrides.pop("drop", ()))
    for number in range(instances):
        index = number % len(series_uids)
        in_series = number // len(series_uids) + 1
        if in_series in drop:
            continue
        extra: dict[str, Any] = {}
        if spacing is not None:
            extra["slice_location"] = in_series * spacing
        data = instance_bytes(
            **{
                **overrides,
                **extra,
                "study_uid": study_uid,
                "series_uid": series_uids[index],
                "series_number": index + 1,
                "instance_number": in_series,
            }
        )
        yield f"SE{index + 1:03d}/IM{number + 1:05d}.dcm", data


def encapsulated_pdf_bytes(pdf: bytes, **overrides: Any) -> bytes:
    """A radiology report saved as DICOM (Encapsulated PDF Storage), as Part 10 bytes."""
    ds = _document(ENCAPSULATED_PDF, "DOC", overrides)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Radiology report"
    ds.EncapsulatedDocument = pdf + bytes(len(pdf) % 2)
    return _file_bytes(ds)


def key_object_bytes(referenced: Sequence[tuple[str, str]], **overrides: Any) -> bytes:
    """A Key Object Selection document pointing at (series UID, SOP instance UID) pairs."""
    ds = _document(KEY_OBJECT_SELECTION, "KO", overrides)
    by_series: dict[str, list[str]] = {}
    for series_uid, instance_uid in referenced:
        by_series.setdefault(series_uid, []).append(instance_uid)
    study = Dataset()
    study.StudyInstanceUID = ds.StudyInstanceUID
    study.ReferencedSeriesSequence = DicomSequence()
    for series_uid, instances in by_series.items():
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = DicomSequence()
        for uid in instances:
            item = Dataset()
            item.ReferencedSOPClassUID = SOP_CLASSES["CT"]
            item.ReferencedSOPInstanceUID = uid
            series.ReferencedSOPSequence.append(item)
        study.ReferencedSeriesSequence.append(series)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([study])
    return _file_bytes(ds)


def _document(sop_class: str, modality: str, overrides: dict[str, Any]) -> Dataset:
    """A non-image object: the image's patient and study attributes, no pixel module."""
    ds = make_instance(**{**overrides, "modality": modality, "sop_class_uid": sop_class})
    for keyword in ("SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns",
                    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "PixelData", "ImageType", "WindowCenter", "WindowWidth",
                    "PlanarConfiguration", "NumberOfFrames", "ImagePositionPatient",
                    "ImageOrientationPatient", "SliceThickness", "PixelSpacing"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


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

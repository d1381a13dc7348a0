"""DICOM inspection: validity on pydicom's own test files, studies, DICOMDIRs, identity."""

from __future__ import annotations

import io
import json
import logging
import tracemalloc
import warnings
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from bot.imaging.identity import Match, identity_matches
from bot.imaging.reading import (
    DicomKind,
    DicomProblem,
    DicomReport,
    InvalidDicom,
    inspect_dicom,
    inspect_dicom_async,
)
from bot.imaging.studies import missing_from_folder, read_dicomdir, summarize
from storage.files import EncryptedDiskStore, chunks_from_file
from tests.dicom_factory import instance_bytes, write_dicomdir_folder, write_study


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not in the pydicom wheel"
    return Path(str(path))


def report(**overrides: object) -> DicomReport:
    values: dict[str, object] = {
        "kind": DicomKind.INSTANCE,
        "valid": True,
        "modality": "CT",
        "study_uid": "1.2.3",
        "series_uid": "1.2.3.1",
        "sop_instance_uid": "1.2.3.1.1",
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "patient_name": "DOE^JOHN",
        "patient_birth_date": date(1980, 1, 2),
        "study_date": date(2024, 1, 15),
    }
    values.update(overrides)
    return DicomReport(**values)  # type: ignore[arg-type]


# -- validity on real files -------------------------------------------------------------------


def test_ct_small_is_a_valid_ct_instance_with_its_metadata() -> None:
    found = inspect_dicom(pydicom_file("CT_small.dcm"))
    assert found.kind is DicomKind.INSTANCE
    assert found.valid and found.problem is None
    assert found.modality == "CT"
    assert found.study_date == date(2004, 1, 19)
    assert found.institution == "JFK IMAGING CENTER"
    assert (found.rows, found.columns, found.bits_allocated) == (128, 128, 16)
    assert found.samples_per_pixel == 1
    assert found.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert found.has_pixel_data
    assert all([found.study_uid, found.series_uid, found.sop_instance_uid, found.sop_class_uid])


def test_mr_small_is_a_valid_mr_instance() -> None:
    found = inspect_dicom(pydicom_file("MR_small.dcm"))
    assert found.valid and found.modality == "MR"


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_padded.dcm",
        "JPEG2000.dcm",
        "liver_1frame.dcm",
        "SC_rgb_small_odd.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        "rtplan.dcm",
        "waveform_ecg.dcm",
        "test-SR.dcm",
    ],
)
def test_whole_files_in_every_encoding_are_valid(name: str) -> None:
    found = inspect_dicom(pydicom_file(name))
    assert found.valid, found.problem


def test_a_file_declaring_explicit_vr_but_written_implicit_is_valid_and_quiet() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = inspect_dicom(pydicom_file("SC_rgb_jpeg.dcm"))
    assert found.valid
    assert caught == []


def test_mr_truncated_is_reported_truncated() -> None:
    found = inspect_dicom(pydicom_file("MR_truncated.dcm"))
    assert (found.valid, found.problem) == (False, DicomProblem.TRUNCATED)
    assert found.modality == "MR"  # what could be read is still reported


def test_rtplan_truncated_is_reported_truncated() -> None:
    # pydicom reads it without a word: the BeamSequence declares 976 bytes and the file holds
    # 711 of them. It has no pixel data, so only the short element gives it away.
    found = inspect_dicom(pydicom_file("rtplan_truncated.dcm"))
    assert (found.valid, found.problem, found.modality) == (False, "truncated", "RTPLAN")


def test_a_file_without_preamble_is_not_dicom() -> None:
    found = inspect_dicom(pydicom_file("no_meta.dcm"))
    assert found.kind is DicomKind.NOT_DICOM
    assert found.problem == DicomProblem.NOT_DICOM


def test_a_bare_dataset_is_accepted_only_when_the_caller_allows_it() -> None:
    assert inspect_dicom(pydicom_file("rtstruct.dcm")).problem == "not_dicom"
    allowed = inspect_dicom(pydicom_file("rtstruct.dcm"), allow_missing_preamble=True)
    assert allowed.valid and allowed.modality == "RTSTRUCT"


def test_a_pdf_renamed_dcm_is_not_dicom(tmp_path: Path) -> None:
    fake = tmp_path / "scan.dcm"
    fake.write_bytes(b"%PDF-1.7\n" + b"x" * 500)
    assert inspect_dicom(fake).problem == DicomProblem.NOT_DICOM
    assert inspect_dicom(fake, allow_missing_preamble=True).problem == "not_dicom"


@pytest.mark.parametrize("content", [b"", b"DICM", b"\0" * 128 + b"DICM"])
def test_empty_and_header_only_files_are_never_valid(content: bytes) -> None:
    assert not inspect_dicom(io.BytesIO(content)).valid


def test_missing_uids_are_reported() -> None:
    found = inspect_dicom(pydicom_file("meta_missing_tsyntax.dcm"))
    assert (found.valid, found.problem) == (False, DicomProblem.MISSING_UIDS)


def test_deflated_files_are_unsupported_rather_than_inflated_in_memory() -> None:
    found = inspect_dicom(pydicom_file("image_dfl.dcm"))
    assert (found.valid, found.problem) == (False, DicomProblem.UNSUPPORTED_SYNTAX)


def test_the_test_dicomdir_is_recognised_and_lists_its_files() -> None:
    path = pydicom_file("DICOMDIR")
    assert inspect_dicom(path).kind is DicomKind.DICOMDIR
    index = read_dicomdir(path)
    assert len(index.files) == 31
    assert set(index.patient_ids) == {"77654033", "98890234"}
    assert "77654033/CR1/6154" in {ref.path for ref in index.files}
    assert all((path.parent / ref.path).is_file() for ref in index.files)


def test_reading_a_dicomdir_refuses_an_image() -> None:
    with pytest.raises(InvalidDicom) as caught:
        read_dicomdir(pydicom_file("CT_small.dcm"))
    assert caught.value.code == "not_dicomdir"


# -- synthetic files --------------------------------------------------------------------------


def test_factory_instances_are_valid_in_every_pixel_layout() -> None:
    for layout in [
        {},
        {"frames": 3},
        {"bits_allocated": 8, "samples_per_pixel": 3, "rows": 5, "columns": 7},
        {"bits_allocated": 1, "rows": 5, "columns": 7},
    ]:
        found = inspect_dicom(io.BytesIO(instance_bytes(**layout)))
        assert found.valid, (layout, found.problem)


_SAMPLE = instance_bytes(rows=32, columns=32)


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(_SAMPLE) - 1))
def test_a_file_cut_anywhere_is_never_valid(cut: int) -> None:
    assert not inspect_dicom(io.BytesIO(_SAMPLE[:cut])).valid


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "liver_1frame.dcm"]
)
def test_real_images_cut_anywhere_are_truncated(name: str) -> None:
    # A non-image object (SR, RT plan) cut exactly between two top-level elements is
    # indistinguishable from a shorter valid file; images always give themselves away.
    data = pydicom_file(name).read_bytes()
    for cut in [*range(0, len(data), max(1, len(data) // 97)), len(data) - 1]:
        found = inspect_dicom(io.BytesIO(data[:cut]))
        # Cut between elements before Rows and the UIDs, nothing proves the file was longer.
        expected = {"not_dicom", "missing_uids", "truncated"} if cut < 2000 else {"truncated"}
        assert found.problem in expected, cut


def test_pixel_data_is_never_loaded() -> None:
    data = instance_bytes(rows=2048, columns=2048, frames=4)  # 32 MiB of pixels
    tracemalloc.start()
    try:
        found = inspect_dicom(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.valid and found.number_of_frames == 4
    assert peak < 2 * 1024 * 1024


async def test_files_are_inspected_from_the_encrypted_store_without_a_plaintext_copy(
    tmp_path: Path,
) -> None:
    store = EncryptedDiskStore(tmp_path / "files", bytes(32), segment_size=4096)
    with pydicom_file("CT_small.dcm").open("rb") as fh:
        stored = await store.put(chunks_from_file(fh), max_size=10**6)
    with store.open_seekable(stored.key) as fh:
        found = await inspect_dicom_async(fh)
    assert found == inspect_dicom(pydicom_file("CT_small.dcm"))


def test_a_generated_dicomdir_folder_lists_every_instance(tmp_path: Path) -> None:
    dicomdir, study = write_dicomdir_folder(tmp_path / "CD", instances=4, series=2)
    index = read_dicomdir(dicomdir)
    assert len(index.files) == 4
    assert index.patient_ids == ("P0001",)
    assert all(inspect_dicom(tmp_path / "CD" / ref.path).valid for ref in index.files)
    assert inspect_dicom(dicomdir).kind is DicomKind.DICOMDIR


def test_a_folder_upload_missing_files_is_noticed() -> None:
    index = read_dicomdir(pydicom_file("DICOMDIR"))
    uploaded = ["CD/DICOMDIR"] + [f"cd/{ref.path.lower()}" for ref in index.files[1:]]
    assert missing_from_folder(index, "CD/DICOMDIR", uploaded) == (f"CD/{index.files[0].path}",)


# -- reports and studies ----------------------------------------------------------------------


def test_a_report_survives_its_json_summary() -> None:
    found = inspect_dicom(pydicom_file("CT_small.dcm"))
    stored = json.loads(json.dumps(found.summary(identity=True)))
    assert DicomReport.from_summary(stored) == found


def test_the_stored_summary_leaves_the_patient_identity_out_by_default() -> None:
    found = report(patient_id="P1")
    stored = json.loads(json.dumps(found.summary()))
    assert not {"patient_name", "patient_id", "patient_birth_date"} & set(stored)
    rebuilt = DicomReport.from_summary(stored)
    assert rebuilt.patient_name is None and rebuilt.study_uid == found.study_uid
    assert summarize([rebuilt]) == summarize([found])


def test_studies_are_grouped_and_each_instance_counted_once(tmp_path: Path) -> None:
    ct = write_study(tmp_path / "ct", instances=5, series=2, modality="CT", frames=2)
    mr = write_study(
        tmp_path / "mr", instances=2, modality="MR", study_date=date(2023, 6, 1), body_part="HEAD"
    )
    reports = [inspect_dicom(p) for p in ct.paths + mr.paths]
    reports.append(reports[0])  # the family sent one file twice
    reports.append(inspect_dicom(io.BytesIO(instance_bytes(study_uid=ct.study_uid)[:-10])))
    reports.append(inspect_dicom(pydicom_file("no_meta.dcm")))
    first, second = summarize(reports)
    assert first.study_uid == mr.study_uid
    assert (first.modalities, first.body_parts) == (("MR",), ("HEAD",))
    assert (first.series_count, first.instance_count, first.frame_count) == (1, 2, 2)
    assert second.study_uid == ct.study_uid
    assert (second.series_count, second.instance_count, second.frame_count) == (2, 5, 10)
    assert second.invalid_count == 1
    assert second.study_date == date(2024, 1, 15)
    assert second.institution == "General Hospital"


# -- patient identity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dicom_name", "case_name", "expected"),
    [
        ("DOE^JOHN", "John Doe", Match.MATCH),
        ("DOE^JOHN", "john   DOE", Match.MATCH),
        ("DOE^JOHN^PETER", "John Doe", Match.MATCH),
        ("DOE^JOHN^^DR", "Dr. John Doe", Match.MATCH),
        ("MÜLLER^JÜRGEN", "Jürgen Muller", Match.MATCH),
        ("YILMAZ^AYSE", "Ayşe Yılmaz", Match.MATCH),
        ("AL-HASSAN^AHMED", "Ahmed Alhassan", Match.MATCH),
        ("Yamada^Tarou=山田^太郎", "山田 太郎", Match.MATCH),
        ("DOE^JOHN", "Jane Doe", Match.MISMATCH),
        ("SMITH^JOHN", "John Doe", Match.MISMATCH),
        ("YILDIZ^AYSE", "Ayşe Yılmaz", Match.MISMATCH),
        ("DOE", "John Doe", Match.UNKNOWN),
        ("DOE^J", "John Doe", Match.UNKNOWN),
        ("MUHAMMAD^ALI", "Mohammed Ali", Match.UNKNOWN),
        ("PETROV^IVAN", "Иван Петров", Match.UNKNOWN),
        ("ANONYMOUS", "John Doe", Match.UNKNOWN),
        ("", "John Doe", Match.UNKNOWN),
        ("DOE^JOHN", "", Match.UNKNOWN),
    ],
)
def test_patient_names_are_compared_loosely(
    dicom_name: str, case_name: str, expected: Match
) -> None:
    found = report(patient_name=dicom_name, patient_birth_date=None)
    assert identity_matches(found, case_name, None) is expected


def test_a_different_birth_date_is_a_mismatch_even_when_the_name_matches() -> None:
    found = report(patient_name="DOE^JOHN", patient_birth_date=date(1980, 1, 2))
    assert identity_matches(found, "John Doe", date(1980, 1, 2)) is Match.MATCH
    assert identity_matches(found, "John Doe", date(1981, 1, 2)) is Match.MISMATCH
    assert identity_matches(found, "John Doe", None) is Match.MATCH


def test_a_matching_birth_date_alone_does_not_prove_identity() -> None:
    found = report(patient_name="ANONYMOUS", patient_birth_date=date(1980, 1, 2))
    assert identity_matches(found, "John Doe", date(1980, 1, 2)) is Match.UNKNOWN


def test_inspection_never_logs_names_or_contents(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data = instance_bytes(patient_name="SECRET^PATIENT")
    for cut in range(0, len(data), 37):
        inspect_dicom(io.BytesIO(data[:cut]))
    inspect_dicom(io.BytesIO(b"\0" * 128 + b"DICM" + b"SECRET^PATIENT" * 10))
    assert "SECRET" not in caplog.text

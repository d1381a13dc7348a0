"""File types from bytes, and checklist items from file names in six languages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.documents.kinds import ALLOWED_TYPES, FileType, claims_dicom, guess_item, sniff
from intake.checklist import ItemKind
from tests.dicom_factory import instance_bytes

K = ItemKind
DICOM_HEAD = instance_bytes()[:4096]
DOCX_HEAD = b"PK\x03\x04" + bytes(26) + b"[Content_Types].xml" + bytes(40) + b"word/document.xml"
XLSX_HEAD = b"PK\x03\x04" + bytes(26) + b"[Content_Types].xml" + bytes(40) + b"xl/workbook.xml"
RAW_DATASET = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100\x08\x00\x16\x00UI"


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (DICOM_HEAD, "IM0001", FileType.DICOM),
        (DICOM_HEAD, "photo.jpg", FileType.DICOM),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "report.pdf", FileType.PDF),
        (b"MZ\x90\x00" + bytes(60) + b"%PDF-1.4", "report.pdf", FileType.UNKNOWN),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "IMG_0001.JPG", FileType.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "screen.png", FileType.PNG),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "IMG_0002.HEIC", FileType.HEIC),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "a.heic", FileType.HEIC),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "a.avif", FileType.UNKNOWN),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "a.webp", FileType.WEBP),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "cd.zip", FileType.ZIP),
        (b"PK\x05\x06" + bytes(18), "empty.zip", FileType.ZIP),
        # Office documents are told apart from archives by their parts list, later.
        (DOCX_HEAD, "letter.docx", FileType.ZIP),
        (XLSX_HEAD, "labs.xlsx", FileType.ZIP),
        ("Hémoglobine 13,5 g/dl\r\n".encode(), "labs.txt", FileType.TEXT),
        ("Гемоглобин 135 г/л\n".encode("utf-16"), "labs.txt", FileType.UNKNOWN),
        (b"<html><script>alert(1)</script>", "notes.txt", FileType.UNKNOWN),
        (b"@echo off\r\ndel /q *", "labs.txt", FileType.UNKNOWN),
        (b"Potassium <5% (normal 3.5\t5.0)\n", "labs.txt", FileType.TEXT),
        ("تحليل الدم".encode()[:-1], "notes", FileType.TEXT),
        (b"\x7fELF\x02\x01\x01", "virus.pdf", FileType.UNKNOWN),
        (b"", "empty.pdf", FileType.UNKNOWN),
    ],
)
def test_file_types_come_from_the_bytes(head: bytes, filename: str, expected: FileType) -> None:
    assert sniff(head, filename, None) is expected


def test_a_pdf_named_dcm_is_a_pdf_that_claims_to_be_dicom() -> None:
    assert sniff(b"%PDF-1.4", "scan.dcm", "application/dicom") is FileType.PDF
    assert claims_dicom("scan.dcm")
    assert claims_dicom("scan", "application/dicom")
    assert not claims_dicom("scan.pdf", "application/pdf")


def test_a_bare_dataset_counts_as_dicom_only_inside_a_dicomdir_folder() -> None:
    assert sniff(RAW_DATASET, "CD/DICOM/IM000001", None) is not FileType.DICOM
    assert sniff(RAW_DATASET, "CD/DICOM/IM000001", None, in_dicomdir_folder=True) is (
        FileType.DICOM
    )
    assert sniff(RAW_DATASET, "CD/report.pdf", None, in_dicomdir_folder=True) is not (
        FileType.DICOM
    )


def test_every_known_type_but_unknown_is_allowed() -> None:
    assert FileType.UNKNOWN not in ALLOWED_TYPES
    assert {FileType.DICOM, FileType.PDF, FileType.ZIP, FileType.HEIC} <= ALLOWED_TYPES


@given(st.binary(max_size=600), st.text(max_size=40), st.none() | st.text(max_size=30))
def test_sniffing_never_fails_on_any_input(head: bytes, name: str, declared: str | None) -> None:
    assert sniff(head, name, declared) in set(FileType)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("Labo_2024-03.pdf", K.LAB_RESULTS),
        ("lab results march.pdf", K.LAB_RESULTS),
        ("bloeduitslagen.pdf", K.LAB_RESULTS),
        ("Bilan sanguin.pdf", K.LAB_RESULTS),
        ("результаты анализов.pdf", K.LAB_RESULTS),
        ("kan tahlili.jpg", K.LAB_RESULTS),
        ("تحاليل الدم.pdf", K.LAB_RESULTS),
        ("نتائج التحليل.pdf", K.LAB_RESULTS),
        ("Pathology report.pdf", K.PATHOLOGY_REPORT),
        ("anapath biopsie.pdf", K.PATHOLOGY_REPORT),
        ("Patoloji raporu.pdf", K.PATHOLOGY_REPORT),
        ("Histologie.pdf", K.PATHOLOGY_REPORT),
        ("патология.pdf", K.PATHOLOGY_REPORT),
        ("نتيجة الخزعة.pdf", K.PATHOLOGY_REPORT),
        ("Operatieverslag.pdf", K.OPERATIVE_REPORT),
        ("compte rendu opératoire.pdf", K.OPERATIVE_REPORT),
        ("ameliyat notu.pdf", K.OPERATIVE_REPORT),
        ("протокол операции.pdf", K.OPERATIVE_REPORT),
        ("تقرير العملية.pdf", K.OPERATIVE_REPORT),
        ("referral letter.pdf", K.REFERRAL_LETTER),
        ("verwijsbrief huisarts.pdf", K.REFERRAL_LETTER),
        ("Lettre du Dr Martin.pdf", K.REFERRAL_LETTER),
        ("направление.pdf", K.REFERRAL_LETTER),
        ("sevk belgesi.pdf", K.REFERRAL_LETTER),
        ("epikriz.pdf", K.REFERRAL_LETTER),
        ("رسالة إحالة.pdf", K.REFERRAL_LETTER),
        ("CT_thorax.pdf", K.IMAGING_REPORT),
        ("MRIBrain.pdf", K.IMAGING_REPORT),
        ("IRM cérébrale.pdf", K.IMAGING_REPORT),
        ("МРТ головного мозга.pdf", K.IMAGING_REPORT),
        ("PET-CT 2024.pdf", K.IMAGING_REPORT),
        ("x-ray knee.jpg", K.IMAGING_REPORT),
        ("Röntgen.jpg", K.IMAGING_REPORT),
        ("Radiology report.pdf", K.IMAGING_REPORT),
        ("Scanner thoracique.pdf", K.IMAGING_REPORT),
        ("تقرير الأشعة.pdf", K.IMAGING_REPORT),
        ("ilaç listesi.docx", K.TREATMENT_HISTORY),
        ("Ordonnance.pdf", K.TREATMENT_HISTORY),
        ("chemo schedule.pdf", K.TREATMENT_HISTORY),
    ],
)
def test_items_are_guessed_from_names_in_six_languages(filename: str, expected: ItemKind) -> None:
    assert guess_item(filename, FileType.PDF) is expected


@pytest.mark.parametrize(
    "filename",
    [
        "IMG_1234.jpg",
        "Scan_20240101.pdf",
        "CamScanner 01-02-2024 10.30.pdf",
        "document.pdf",
        "contract.pdf",
        "label.pdf",
        "CT guided biopsy.pdf",
        "lab and pathology.pdf",
    ],
)
def test_unclear_or_ambiguous_names_are_left_for_the_family(filename: str) -> None:
    assert guess_item(filename, FileType.PDF) is None


def test_dicom_is_imaging_whatever_its_name() -> None:
    assert guess_item("lab results.dcm", FileType.DICOM) is K.IMAGING_DICOM
    assert guess_item("IM000001", FileType.DICOM) is K.IMAGING_DICOM


def test_archives_and_unknown_files_are_never_guessed() -> None:
    assert guess_item("lab results.zip", FileType.ZIP) is None
    assert guess_item("lab results.exe", FileType.UNKNOWN) is None


def test_a_caption_helps_when_the_name_says_nothing() -> None:
    assert guess_item("IMG_1234.jpg", FileType.JPEG, "voici les documents") is None
    assert guess_item("IMG_1234.jpg", FileType.JPEG, "Mes résultats de labo") is K.LAB_RESULTS
    assert guess_item("CT.pdf", FileType.PDF, "lab results") is K.IMAGING_REPORT


@given(st.text(max_size=60), st.none() | st.text(max_size=60))
def test_guessing_never_fails_on_any_name(filename: str, hint: str | None) -> None:
    found = guess_item(filename, FileType.PDF, hint)
    assert found is None or isinstance(found, ItemKind)

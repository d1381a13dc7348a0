"""What the family is told about the files it sent: language-neutral `Text`, rendered late.

Problem codes come from the inspection (`bot.imaging.reading.DicomProblem`, `bot.documents.archive`
rejection codes, and a few of our own); each maps to plain words saying what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from intake.checklist import ChecklistItem, ItemKind, checklist_for
from intake.prompts import N_, Lines, Text
from storage.tables import Document

_PROBLEMS: dict[str, str] = {
    "not_dicom": N_(
        "This file is named like a medical image (DICOM) but is not one. Please send the "
        "images as they are on the hospital's CD or DVD."
    ),
    "truncated": N_(
        "This file is incomplete (the copy was cut short). Please copy it again from the "
        "disc and send it again."
    ),
    "missing_uids": N_(
        "This image lacks the information that places it in a scan. Please send the images "
        "exactly as the hospital gave them."
    ),
    "unsupported_syntax": N_(
        "This image is in a compressed format we cannot check automatically; a coordinator "
        "will look at it."
    ),
    "unreadable": N_(
        "This file could not be read. Please send it again, or ask the hospital for a new copy."
    ),
    "not_dicomdir": N_("The disc index (DICOMDIR) could not be read; each image is checked."),
    "not_zip": N_(
        "This file could not be opened as a ZIP archive. Please create it again, or send the "
        "files themselves."
    ),
    "corrupt": N_(
        "This ZIP archive is damaged. Please create it again, or send the files themselves."
    ),
    "bomb": N_(
        "This ZIP archive grows far too large when unpacked, so we did not open it. Please "
        "send the folder itself or smaller archives."
    ),
    "too_large": N_(
        "This ZIP archive is too large once unpacked. Please send the folder itself or "
        "smaller archives."
    ),
    "too_many_members": N_(
        "This ZIP archive holds too many files. Please send it in several smaller archives."
    ),
    "unsafe_path": N_(
        "This ZIP archive contains unsafe file names, so we did not open it. Please send the "
        "files themselves."
    ),
    "symlink": N_(
        "This ZIP archive contains links instead of files, so we did not open it. Please "
        "send the files themselves."
    ),
    "encrypted": N_(
        "This ZIP archive is protected by a password. Please send it without a password."
    ),
    "unsupported_compression": N_(
        "This ZIP archive uses a compression method we cannot open. Please create it again "
        "with your computer's standard \u201ccompress\u201d function, or send the folder."
    ),
    "nested_archive": N_(
        "This is an archive inside an archive. Please unpack it and send what it contains."
    ),
    "case_full": N_(
        "There is no more room for files in this request. Please contact your coordinator."
    ),
    "file_too_large": N_("This file is too large. Please contact your coordinator."),
    "unsupported_type": N_(
        "This type of file is not accepted. Please send PDF files, photos, Word or "
        "OpenDocument text documents, plain text, DICOM images or ZIP archives."
    ),
    "daily_limit": N_(
        "Your ZIP archives for this request have reached today's unpacking limit, so this one "
        "was not opened. Please send the folder itself, or send the archive again tomorrow."
    ),
    "no_space": N_(
        "We cannot receive files at the moment. Our coordinators have been told; please try "
        "again in a few hours."
    ),
    "empty": N_("This file is empty."),
}
_UNKNOWN_PROBLEM = N_("This file could not be checked. A coordinator will look at it.")

_MODALITIES: dict[str, str] = {
    "CT": N_("CT scan"),
    "MR": N_("MRI"),
    "PT": N_("PET scan"),
    "NM": N_("Nuclear medicine scan"),
    "CR": N_("X-ray"),
    "DX": N_("X-ray"),
    "DR": N_("X-ray"),
    "US": N_("Ultrasound"),
    "MG": N_("Mammography"),
    "XA": N_("Angiography"),
    "RF": N_("Fluoroscopy"),
    "SR": N_("Structured report"),
    "SEG": N_("Segmentation"),
    "RTSTRUCT": N_("Radiotherapy plan"),
    "RTPLAN": N_("Radiotherapy plan"),
    "RTDOSE": N_("Radiotherapy plan"),
    "ECG": N_("ECG"),
    "OT": N_("Images"),
    "KO": N_("Images"),
}


def problem_text(code: str | None) -> Text:
    """The plain-words explanation of a problem code."""
    return Text(_PROBLEMS.get(code or "", _UNKNOWN_PROBLEM))


def modality_text(modalities: Sequence[str]) -> Text | tuple[Text, ...]:
    """Name a study's modalities in the family's words ("CT scan", "PET scan and CT scan")."""
    names: list[Text] = []
    for code in modalities:
        msgid = _MODALITIES.get(code.upper())
        text = Text(msgid) if msgid else Text.of("{code} images", code=code)
        if text not in names:
            names.append(text)
    if not names:
        return Text.of("Images")
    return names[0] if len(names) == 1 else tuple(names)


def item_label(kind: str) -> Text:
    """The label of a checklist item kind (or "Other documents")."""
    try:
        item = ItemKind(kind)
    except ValueError:
        item = ItemKind.OTHER
    for entry in checklist_for({}):
        if entry.kind is item:
            return entry.label
    return Text.of("Other documents")


def choosable_items(items: Sequence[ChecklistItem]) -> list[tuple[str, Text]]:
    """What the family may say a document is: the case's checklist, then "other"."""
    out = [(str(item.kind), item.label) for item in items]
    out.append((str(ItemKind.OTHER), item_label(ItemKind.OTHER)))
    return out


@dataclass(frozen=True)
class StudyLine:
    """One imaging study in a summary."""

    modalities: tuple[str, ...]
    study_date: date | None
    series: int
    images: int
    study_uid: str = ""


def study_text(study: StudyLine) -> Text:
    """One study, ticked: "CT scan of 2 October 2026: 3 series, 412 images ✓"."""
    series = Text.counted("{count} series", "{count} series", study.series)
    images = Text.counted("{count} image", "{count} images", study.images)
    name = modality_text(study.modalities)
    if study.study_date is not None:
        return Text.of("{study} of {date}: {series}, {images} \u2713", study=name,
                       date=study.study_date, series=series, images=images)
    return Text.of("{study}: {series}, {images} \u2713", study=name, series=series,
                   images=images)


def document_line(kind: str, name: str) -> Text:
    """A received document, ticked, under the item it counts for."""
    if kind == ItemKind.OTHER:
        return Text.of("{name} \u2713", name=name)
    return Text.of("{item}: {name} \u2713", item=item_label(kind), name=name)


def problem_line(name: str, code: str | None) -> Text:
    """A file that could not be used, and what to do."""
    return Text.of("{name}: {problem}", name=name, problem=problem_text(code))


def problem_group(count: int, code: str | None) -> Text:
    """Several files with the same problem."""
    return Text.counted("{count} file: {problem}", "{count} files: {problem}", count,
                        problem=problem_text(code))


def more_documents(count: int) -> Text:
    """The tail of a long list."""
    return Text.counted("\u2026 and {count} more document", "\u2026 and {count} more documents",
                        count)


def duplicate_line(name: str) -> Text:
    """A file already received before."""
    return Text.of("{name}: already received \u2014 no need to send it again.", name=name)


def duplicate_group(count: int) -> Text:
    """Several files already received before."""
    return Text.counted(
        "{count} file had already been received \u2014 no need to send it again.",
        "{count} files had already been received \u2014 no need to send them again.", count)


def folder_check(listed: int, missing: int) -> Text:
    """What the disc's DICOMDIR says about the folder that was sent."""
    if missing == 0:
        return Text.counted("Disc check: the {count} image listed on the disc arrived \u2713",
                            "Disc check: all {count} images listed on the disc arrived \u2713",
                            listed)
    return Text.counted(
        "Disc check: {count} image listed on the disc is missing. Please send the whole "
        "folder of the disc again; what has arrived is kept.",
        "Disc check: {count} images listed on the disc are missing. Please send the whole "
        "folder of the disc again; what has arrived is kept.", missing)


def identity_notice() -> Text:
    """Said neutrally: a coordinator checks, nothing is rejected."""
    return Text.of(
        "Some images carry a patient name or date of birth that differs from your request. "
        "This can happen (a different spelling, for example); a coordinator will check it "
        "with you.")


def pick_item_notice(count: int) -> Text:
    """Documents whose purpose we could not tell."""
    return Text.counted(
        "Please tell us on the upload page what {count} document is.",
        "Please tell us on the upload page what these {count} documents are.", count)


def summary(reference: str, lines: Sequence[Text]) -> Text:
    """The heading of the family's summary of a batch of files."""
    return Text.of("Files received for your request {reference}:\n{lines}",
                   reference=reference, lines=Lines(tuple(lines)))


def still_missing(labels: Sequence[Text]) -> Text:
    """The required items not yet received."""
    return Text.of("Still missing: {items}.", items=tuple(labels))


def file_complete(waits_for_quote: bool) -> Text:
    """The case's file just became complete; the review may still wait for the quote."""
    if waits_for_quote:
        return Text.of(
            "Your file is now complete \u2014 thank you! Your coordinator will now confirm the "
            "price with you; the specialists start as soon as you accept it. We will keep you "
            "informed here.")
    return Text.of(
        "Your file is now complete \u2014 thank you! The specialists can start; we will keep "
        "you informed here.")


def use_upload_link(url: str | None) -> Text:
    """A chat file could not be received: point to the upload page."""
    if url is None:
        return Text.of(
            "We could not receive this file here (it may be too large for this app). Please "
            "use the secure upload link we sent you; write \u201cnew link\u201d if you cannot "
            "find it.")
    return Text.of(
        "We could not receive this file here (it may be too large for this app). Please use "
        "this secure link to send it:\n{url}", url=url)


def size_text(size: int) -> Text:
    """A size limit in the units families know ("2 GB", "500 MB")."""
    gigabytes = size / (1 << 30)
    if gigabytes >= 1:
        return Text.of("{amount} GB", amount=round(gigabytes, 1))
    return Text.of("{amount} MB", amount=max(1, round(size / (1 << 20))))


def studies(documents: Sequence[Document]) -> list[StudyLine]:
    """Group valid DICOM documents into the studies a summary lists."""
    grouped: dict[str, dict[str, Any]] = {}
    for d in documents:
        if not (d.is_dicom and d.valid) or d.kind == ItemKind.IMAGING_REPORT:
            continue
        info = d.inspection
        study = grouped.setdefault(str(info.get("study_uid")), {
            "modalities": [], "dates": set(), "series": set(), "images": 0})
        modality = info.get("modality")
        if modality and modality not in study["modalities"]:
            study["modalities"].append(modality)
        if info.get("study_date"):
            study["dates"].add(info["study_date"])
        study["series"].add(info.get("series_uid"))
        study["images"] += int(info.get("frames") or 1)
    lines = []
    for uid, study in grouped.items():
        when = min(study["dates"]) if study["dates"] else None
        lines.append(StudyLine(tuple(study["modalities"]),
                               date.fromisoformat(when) if when else None,
                               len(study["series"]), study["images"], uid))
    return sorted(lines, key=lambda s: (s.study_date is None, s.study_date or date.min))


def problem_lines(problems: Sequence[tuple[str, str | None]]) -> list[Text]:
    """One line per problem, or one per kind of problem shared by several files."""
    by_code: dict[str | None, list[str]] = {}
    for name, code in problems:
        by_code.setdefault(code, []).append(name)
    return [problem_line(names[0], code) if len(names) == 1
            else problem_group(len(names), code) for code, names in by_code.items()]


def folder_counts(directory: Document, paths: set[str]) -> tuple[int, int]:
    """(files the DICOMDIR lists, how many of them never arrived)."""
    base = str(directory.inspection.get("path") or "").rpartition("/")[0]
    listed = [str(p) for p in directory.inspection.get("files") or []]
    missing = sum(1 for p in listed
                  if (f"{base}/{p}" if base else p).casefold() not in paths)
    return len(listed), missing

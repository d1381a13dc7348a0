"""Whether a received imaging series is something a radiologist can read: rules, no I/O.

A family often sends what the local hospital handed over: screenshots of a viewer, a few key
images, a copy of a disc that lost files, or the report saved as DICOM. Each of these passes
as "valid DICOM" and costs a re-imaging when the specialist finds out. `assess` judges every
series of a case from header facts only (`InstanceFacts`, kept per document at upload time):

============== =============================================================================
category       when (first rule that applies)
============== =============================================================================
report         Encapsulated PDF/CDA or a Structured Report: a report, filed as one
key_objects    a Key Object Selection document (notes when none of its series arrived)
screen_capture Secondary Capture SOP class, ImageType DERIVED or SECONDARY, ConversionType
localizer      every image is a localizer / scout (ImageType LOCALIZER, or named so)
key_images     cross-sectional series whose images cover under half of their own range, a
               single image, or fewer than `MIN_IMAGES_WITHOUT_GEOMETRY` with no positions
incomplete     gaps in slice positions along the normal, or duplicated positions; gaps in
               InstanceNumber when the images carry no positions (else only noted)
diagnostic     anything else; lossy compression and thick slices are noted, not refused
unassessed     documents inspected before these rules existed (they count as before)
============== =============================================================================

The thresholds and their sources are listed in the project's imaging notes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from statistics import median
from typing import Any

from intake.imaging_model import Category, Finding, InstanceFacts, Note, SeriesVerdict, text

__all__ = [
    "CROSS_SECTIONAL",
    "PROJECTION",
    "Category",
    "Finding",
    "InstanceFacts",
    "Note",
    "SeriesVerdict",
    "assess",
    "assess_inspections",
    "is_document_class",
    "names_localizer",
    "slice_findings",
]

CROSS_SECTIONAL = frozenset({"CT", "MR", "PT", "NM"})
PROJECTION = frozenset({"CR", "DX", "MG", "XA", "RF", "IO", "PX"})
# Rules on the stack of slices apply to these; NM is often planar, so it is left out.
_STACKED = frozenset({"CT", "MR", "PT"})

MIN_IMAGES_WITHOUT_GEOMETRY = 10
MIN_COVERAGE = 0.5
GAP_FACTOR = 1.5
SAME_POSITION_MM = 0.05
THICK_SLICE_MM = 5.0

SECONDARY_CAPTURE_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_ENCAPSULATED_DOCUMENTS = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
        "1.2.840.10008.5.1.4.1.1.104.2",  # Encapsulated CDA
    }
)
_DOCUMENT_MODALITIES = frozenset({"SR", "DOC"})
LOSSY_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline (8 bit)
        "1.2.840.10008.1.2.4.51",  # JPEG Extended (12 bit)
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy allowed)
        "1.2.840.10008.1.2.4.203",  # HTJ2K (lossy allowed)
        *(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)),  # MPEG-2, MPEG-4, HEVC video
    }
)
# Conversion types (PS3.3 C.8.6.1): a digitised film, a scanned document or image.
_PHOTOGRAPHED = frozenset({"DF", "SD", "SI"})
_SCREEN_SAVE = frozenset({"WSD", "DV", "DRW", "SYN"})
_LOCALIZER_WORDS = ("scout", "localizer", "localiser", "topogram", "surview", "scanogram",
                    "survey", "3-plane loc", "3 plane loc", "tri-pilot", "pilot")


def is_document_class(sop_class_uid: str | None, modality: str | None) -> bool:
    """A report stored as DICOM (PDF, CDA, Structured Report), not images."""
    uid = sop_class_uid or ""
    if uid == KEY_OBJECT_SELECTION:
        return False
    return (
        uid in _ENCAPSULATED_DOCUMENTS
        or uid.startswith(_SR_PREFIX)
        or (modality or "").upper() in _DOCUMENT_MODALITIES
    )


def _is_key_objects(facts: InstanceFacts) -> bool:
    return facts.sop_class_uid == KEY_OBJECT_SELECTION or (facts.modality or "") == "KO"


def _capture_notes(instances: Sequence[InstanceFacts]) -> tuple[Note, ...]:
    """Why the series looks like screen captures or processed copies, if it does."""
    found: list[Finding] = []
    for facts in instances:
        kinds = facts.image_type
        if facts.sop_class_uid in SECONDARY_CAPTURE_CLASSES:
            found.append(Finding.SECONDARY_CAPTURE)
        if (kinds[:1] == ("DERIVED",)) or (kinds[1:2] == ("SECONDARY",)):
            found.append(Finding.DERIVED)
        conversion = (facts.conversion_type or "").upper()
        if conversion in _PHOTOGRAPHED:
            found.append(Finding.PHOTOGRAPHED_FILM)
        elif conversion:
            found.append(Finding.SCREEN_SAVE)
        if facts.burned_in and facts.sop_class_uid in SECONDARY_CAPTURE_CLASSES:
            found.append(Finding.BURNED_IN)
    # A series counts as captures when most of its images are (a stray derived image in
    # an original series, such as a dose screen, does not condemn the series).
    counts = Counter(found)
    half = len(instances) / 2
    return tuple(Note(f) for f in Finding if counts.get(f, 0) > half)


def names_localizer(description: str | None) -> bool:
    """A series description that names a localizer / scout ("Topogram", "3-plane loc")."""
    text = (description or "").casefold()
    return any(word in text for word in _LOCALIZER_WORDS)


def _is_localizer(facts: InstanceFacts) -> bool:
    return "LOCALIZER" in facts.image_type or names_localizer(facts.description)


def _normal(orientation: Sequence[float]) -> tuple[float, float, float] | None:
    rx, ry, rz, cx, cy, cz = orientation
    nx, ny, nz = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
    length = math.sqrt(nx * nx + ny * ny + nz * nz)
    if length < 1e-6:
        return None
    return nx / length, ny / length, nz / length


def slice_findings(distances: Sequence[float]) -> tuple[Note, ...]:
    """Gaps and duplicates in slice positions along the normal (millimetres, any order).

    Repeated positions are normal when every position repeats equally (phases, echoes,
    b-values in one series); images beyond the usual number per position are duplicates.
    A gap is a step over `GAP_FACTOR` times the median step; it counts the slices that would
    fill it.
    """
    ordered = sorted(distances)
    if len(ordered) < 2:
        return ()
    groups: list[list[float]] = [[ordered[0]]]
    for d in ordered[1:]:
        if d - groups[-1][-1] <= SAME_POSITION_MM:
            groups[-1].append(d)
        else:
            groups.append([d])
    notes: list[Note] = []
    sizes = [len(g) for g in groups]
    if len(set(sizes)) > 1:
        counts = Counter(sizes)
        top = max(counts.values())
        usual = min(size for size, seen in counts.items() if seen == top)
        extra = sum(size - usual for size in sizes if size > usual)
        if extra:
            notes.append(Note(Finding.DUPLICATE_POSITIONS, count=extra))
    centres = [g[0] for g in groups]
    steps = [b - a for a, b in zip(centres, centres[1:], strict=False)]
    if len(steps) >= 2:
        typical = median(steps)
        missing = sum(round(step / typical) - 1 for step in steps if step > GAP_FACTOR * typical)
        if missing > 0:
            notes.append(Note(Finding.SLICE_GAPS, count=missing))
    return tuple(notes)


def _geometry(instances: Sequence[InstanceFacts]) -> list[float] | None:
    """Each image's distance along the series' normal, when all images share one plane."""
    first = instances[0].orientation
    if first is None:
        return None
    normal = _normal(first)
    if normal is None:
        return None
    distances = []
    for facts in instances:
        if facts.position is None or facts.orientation is None or facts.frames > 1:
            return None
        if any(abs(a - b) > 1e-3 for a, b in zip(facts.orientation, first, strict=True)):
            return None  # several planes (a 3-plane localizer): no single stack to check
        distances.append(sum(p * n for p, n in zip(facts.position, normal, strict=True)))
    return distances


def _missing_numbers(instances: Sequence[InstanceFacts]) -> int:
    numbers = {f.instance_number for f in instances if f.instance_number is not None}
    if len(numbers) < 2:
        return 0
    return max(numbers) - min(numbers) + 1 - len(numbers)


def _thickness(instances: Sequence[InstanceFacts]) -> float | None:
    values = [f.slice_thickness for f in instances if f.slice_thickness]
    return median(values) if values else None


def _coverage(distances: Sequence[float], thickness: float | None) -> float | None:
    """How much of its own range a stack of slices covers (1.0 for contiguous slices)."""
    unique = sorted({round(d, 2) for d in distances})
    if len(unique) < 2:
        return None
    steps = [b - a for a, b in zip(unique, unique[1:], strict=False)]
    if thickness is None:
        thickness = min(steps)
    extent = unique[-1] - unique[0] + thickness
    return len(unique) * thickness / extent if extent > 0 else None


def _stack_verdict(
    instances: Sequence[InstanceFacts], images: int
) -> tuple[Category, list[Note]]:
    """Key images or an incomplete stack, for a cross-sectional series."""
    distances = _geometry(instances)
    thickness = _thickness(instances)
    if images == 1:
        return Category.KEY_IMAGES, [Note(Finding.SINGLE_IMAGE, count=1)]
    if distances is None:
        if images < MIN_IMAGES_WITHOUT_GEOMETRY:
            return Category.KEY_IMAGES, [Note(Finding.FEW_IMAGES, count=images)]
        missing = _missing_numbers(instances) if all(f.frames == 1 for f in instances) else 0
        if missing:
            return Category.INCOMPLETE, [Note(Finding.MISSING_INSTANCES, count=missing)]
        return Category.DIAGNOSTIC, []
    coverage = _coverage(distances, thickness)
    if coverage is not None and coverage < MIN_COVERAGE:
        return Category.KEY_IMAGES, [Note(Finding.SPARSE, count=images,
                                          value=round(coverage, 2))]
    notes = list(slice_findings(distances))
    incomplete = bool(notes)
    missing = _missing_numbers(instances)
    if missing:
        # With positions to go by, a numbering gap alone is a scanner's habit (numbers
        # shared with a localizer or reconstructions), noted but not held against the stack.
        notes.insert(0, Note(Finding.MISSING_INSTANCES, count=missing))
    return (Category.INCOMPLETE if incomplete else Category.DIAGNOSTIC), notes


def _quality_notes(instances: Sequence[InstanceFacts], modality: str) -> list[Note]:
    notes = []
    if any(f.lossy or (f.transfer_syntax or "") in LOSSY_SYNTAXES for f in instances):
        notes.append(Note(Finding.LOSSY))
    thickness = _thickness(instances)
    if modality in _STACKED and thickness is not None and thickness > THICK_SLICE_MM:
        notes.append(Note(Finding.THICK_SLICES, value=round(thickness, 1)))
    return notes


def _assess_series(
    instances: Sequence[InstanceFacts], present_series: frozenset[str]
) -> SeriesVerdict:
    first = instances[0]
    modality = Counter(f.modality or "" for f in instances).most_common(1)[0][0]
    images = sum(f.frames for f in instances)

    def verdict(category: Category, notes: Iterable[Note]) -> SeriesVerdict:
        return SeriesVerdict(first.series_uid, first.study_uid, modality or None, category,
                             tuple(notes), images)

    if any(is_document_class(f.sop_class_uid, f.modality) for f in instances):
        return verdict(Category.REPORT, [Note(Finding.DOCUMENT)])
    if any(_is_key_objects(f) for f in instances):
        referenced = {uid for f in instances for uid in f.referenced_series}
        missing = not referenced & present_series
        return verdict(Category.KEY_OBJECTS,
                       [Note(Finding.KOS_WITHOUT_IMAGES)] if missing else [])
    quality = _quality_notes(instances, modality)
    captures = _capture_notes(instances)
    if captures:
        return verdict(Category.SCREEN_CAPTURE, [*captures, *quality])
    if all(_is_localizer(f) for f in instances):
        return verdict(Category.LOCALIZER, [Note(Finding.LOCALIZER)])
    if modality in _STACKED:
        category, notes = _stack_verdict(instances, images)
        return verdict(category, [*notes, *quality])
    return verdict(Category.DIAGNOSTIC, quality)


def assess(instances: Iterable[InstanceFacts]) -> dict[str, SeriesVerdict]:
    """The verdict on every series of a case, keyed by series UID."""
    by_series: dict[str, list[InstanceFacts]] = {}
    for facts in instances:
        by_series.setdefault(facts.series_uid, []).append(facts)
    present = frozenset(
        uid for uid, items in by_series.items() if not any(_is_key_objects(f) for f in items)
    )
    return {uid: _assess_series(items, present) for uid, items in by_series.items()}


def assess_inspections(inspections: Iterable[Mapping[str, Any]]) -> dict[str, SeriesVerdict]:
    """Verdicts from stored inspections; series with no image facts are `unassessed`."""
    facts: list[InstanceFacts] = []
    legacy: dict[str, Mapping[str, Any]] = {}
    for info in inspections:
        found = InstanceFacts.from_inspection(info)
        if found is not None:
            facts.append(found)
        elif isinstance(info.get("series_uid"), str) and info.get("series_uid"):
            legacy.setdefault(str(info["series_uid"]), info)
    verdicts = assess(facts)
    for uid, info in legacy.items():
        if uid not in verdicts:
            verdicts[uid] = SeriesVerdict(uid, text(info.get("study_uid")),
                                          text(info.get("modality")), Category.UNASSESSED,
                                          (), 0)
    return verdicts

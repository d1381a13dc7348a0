"""Diagnostic quality of imaging: the pure rules, and the facts read from generated studies."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import JPEGBaseline8Bit

from bot.imaging.reading import inspect_dicom
from intake.imaging import (
    Category,
    Finding,
    InstanceFacts,
    SeriesVerdict,
    assess,
    assess_inspections,
    slice_findings,
)
from tests.dicom_factory import (
    SECONDARY_CAPTURE,
    encapsulated_pdf_bytes,
    iter_study,
    key_object_bytes,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def stack(count: int, *, spacing: float = 1.0, thickness: float = 1.0, series: str = "s1",
          modality: str = "CT", skip: Iterable[int] = (), **extra: Any) -> list[InstanceFacts]:
    """A stack of axial slices numbered from 1, `skip` leaving some out."""
    left_out = set(skip)
    return [
        InstanceFacts(series_uid=series, study_uid="st", modality=modality,
                      sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                      image_type=("ORIGINAL", "PRIMARY", "AXIAL"), instance_number=n,
                      position=(0.0, 0.0, n * spacing), orientation=AXIAL,
                      slice_thickness=thickness, **extra)
        for n in range(1, count + 1) if n not in left_out
    ]


def only(verdicts: dict[str, SeriesVerdict]) -> SeriesVerdict:
    (verdict,) = verdicts.values()
    return verdict


def findings(verdict: SeriesVerdict) -> dict[Finding, int | None]:
    return {note.finding: note.count for note in verdict.notes}


def generated(files: Iterable[tuple[str, bytes]]) -> dict[str, SeriesVerdict]:
    """Inspect generated files as the upload does, then judge them from what is stored."""
    stored = []
    for _, data in files:
        report = inspect_dicom(io.BytesIO(data))
        assert report.valid, report.problem
        stored.append({"series_uid": report.series_uid, "study_uid": report.study_uid,
                       "modality": report.modality, "frames": report.number_of_frames or 1,
                       "image": report.image})
    return assess_inspections(stored)


# -- the rules, on facts ---------------------------------------------------------------------


def test_a_contiguous_ct_stack_is_diagnostic() -> None:
    verdict = only(assess(stack(60)))
    assert verdict.category is Category.DIAGNOSTIC and verdict.diagnostic
    assert verdict.notes == () and verdict.images == 60


def test_missing_slices_make_the_series_incomplete_and_are_counted() -> None:
    verdict = only(assess(stack(60, skip={20, 21, 22, 40})))
    assert verdict.category is Category.INCOMPLETE and not verdict.diagnostic
    assert findings(verdict) == {Finding.MISSING_INSTANCES: 4, Finding.SLICE_GAPS: 4}


def test_a_numbering_gap_in_a_contiguous_stack_is_noted_but_not_held_against_it() -> None:
    renumbered = [replace(f, instance_number=f.instance_number + (5 if n >= 20 else 0))
                  for n, f in enumerate(stack(40)) if f.instance_number is not None]
    verdict = only(assess(renumbered))
    assert verdict.category is Category.DIAGNOSTIC
    assert findings(verdict) == {Finding.MISSING_INSTANCES: 5}
    unplaced = [replace(f, position=None) for f in renumbered]
    assert only(assess(unplaced)).category is Category.INCOMPLETE


def test_a_few_slices_spread_over_the_body_are_key_images() -> None:
    verdict = only(assess(stack(6, spacing=40.0, thickness=1.0)))
    assert verdict.category is Category.KEY_IMAGES
    assert findings(verdict) == {Finding.SPARSE: 6}


def test_one_slice_of_a_ct_is_not_a_scan_but_one_radiograph_is() -> None:
    assert only(assess(stack(1))).category is Category.KEY_IMAGES
    radiograph = InstanceFacts(series_uid="x", modality="DX",
                               image_type=("ORIGINAL", "PRIMARY"))
    assert only(assess([radiograph])).category is Category.DIAGNOSTIC


def test_mr_with_gaps_between_slices_by_protocol_is_not_incomplete() -> None:
    # 5 mm slices every 6.5 mm: a normal MR protocol, covering 77 % of its range.
    verdict = only(assess(stack(24, spacing=6.5, thickness=5.0, modality="MR")))
    assert verdict.category is Category.DIAGNOSTIC


def test_phases_repeating_every_position_are_not_duplicates_but_an_extra_image_is() -> None:
    phases = stack(20) + stack(20, series="s1")
    assert only(assess(phases)).category is Category.DIAGNOSTIC
    extra = stack(20) + stack(3, series="s1")
    assert findings(only(assess(extra))) == {Finding.DUPLICATE_POSITIONS: 3}


def test_screen_captures_are_caught_by_sop_class_image_type_or_conversion_type() -> None:
    capture = InstanceFacts(series_uid="c", modality="OT", sop_class_uid=SECONDARY_CAPTURE,
                            image_type=("DERIVED", "SECONDARY"), conversion_type="WSD")
    verdict = only(assess([capture] * 3))
    assert verdict.category is Category.SCREEN_CAPTURE
    assert set(findings(verdict)) == {Finding.SECONDARY_CAPTURE, Finding.DERIVED,
                                      Finding.SCREEN_SAVE}
    film = InstanceFacts(series_uid="f", modality="CR", conversion_type="DF")
    assert findings(only(assess([film]))) == {Finding.PHOTOGRAPHED_FILM: None}
    derived = [replace(f, image_type=("DERIVED", "SECONDARY", "MPR")) for f in stack(40)]
    assert only(assess(derived)).category is Category.SCREEN_CAPTURE


def test_one_derived_dose_screen_does_not_condemn_an_original_series() -> None:
    dose = InstanceFacts(series_uid="s1", study_uid="st", modality="CT",
                         sop_class_uid=SECONDARY_CAPTURE, image_type=("DERIVED", "SECONDARY"))
    assert only(assess([*stack(40), dose])).category is not Category.SCREEN_CAPTURE


def test_localizers_alone_are_not_a_scan() -> None:
    scout = InstanceFacts(series_uid="l", modality="CT",
                          image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    assert only(assess([scout, scout])).category is Category.LOCALIZER
    named = InstanceFacts(series_uid="t", modality="CT", description="Topogram 0.6 T20f")
    assert only(assess([named])).category is Category.LOCALIZER


def test_lossy_compression_and_thick_slices_are_noted_not_refused() -> None:
    verdict = only(assess(stack(30, thickness=8.0, spacing=8.0,
                                transfer_syntax="1.2.840.10008.1.2.4.50")))
    assert verdict.category is Category.DIAGNOSTIC
    assert set(findings(verdict)) == {Finding.LOSSY, Finding.THICK_SLICES}
    flagged = only(assess(stack(30, lossy=True)))
    assert set(findings(flagged)) == {Finding.LOSSY}


def test_reports_and_key_object_selections_are_not_images() -> None:
    pdf = InstanceFacts(series_uid="p", modality="DOC",
                        sop_class_uid="1.2.840.10008.5.1.4.1.1.104.1")
    sr = InstanceFacts(series_uid="r", modality="SR",
                       sop_class_uid="1.2.840.10008.5.1.4.1.1.88.33")
    kos = InstanceFacts(series_uid="k", modality="KO",
                        sop_class_uid="1.2.840.10008.5.1.4.1.1.88.59",
                        referenced_series=("s1",))
    alone = assess([pdf, sr, kos])
    assert {v.category for v in alone.values()} == {Category.REPORT, Category.KEY_OBJECTS}
    assert findings(alone["k"]) == {Finding.KOS_WITHOUT_IMAGES: None}
    with_images = assess([kos, *stack(40)])
    assert findings(with_images["k"]) == {} and with_images["s1"].diagnostic


def test_documents_inspected_before_the_rules_are_unassessed_and_count_as_before() -> None:
    legacy = {"series_uid": "old", "study_uid": "st", "modality": "CT"}
    verdict = assess_inspections([legacy])["old"]
    assert verdict.category is Category.UNASSESSED and verdict.diagnostic


def test_a_stored_verdict_round_trips_as_json() -> None:
    verdict = only(assess(stack(10, skip={5})))
    assert verdict.as_json() == {
        "category": "incomplete", "images": 9,
        "notes": [{"finding": "missing_instances", "count": 1},
                  {"finding": "slice_gaps", "count": 1}],
    }


@given(
    count=st.integers(min_value=8, max_value=200),
    spacing=st.floats(min_value=0.5, max_value=10.0),
    start=st.floats(min_value=-500.0, max_value=500.0),
    data=st.data(),
)
def test_every_run_of_missing_slices_is_found_and_counted(
    count: int, spacing: float, start: float, data: st.DataObject
) -> None:
    interior = list(range(1, count - 1))
    removed = data.draw(st.sets(st.sampled_from(interior), max_size=(count - 1) // 3 - 1))
    distances = [start + i * spacing for i in range(count) if i not in removed]
    shuffled = data.draw(st.permutations(distances))
    notes = {n.finding: n.count for n in slice_findings(shuffled)}
    assert notes.get(Finding.SLICE_GAPS, 0) == len(removed)
    assert Finding.DUPLICATE_POSITIONS not in notes


@given(count=st.integers(min_value=2, max_value=100), repeats=st.integers(1, 4),
       extra=st.integers(0, 5))
def test_duplicates_are_found_only_when_positions_repeat_unevenly(
    count: int, repeats: int, extra: int
) -> None:
    positions = [float(i) for i in range(count)] * repeats + [0.0] * extra
    notes = {n.finding: n.count for n in slice_findings(positions)}
    assert notes.get(Finding.DUPLICATE_POSITIONS, 0) == extra
    assert Finding.SLICE_GAPS not in notes


# -- the facts, read from generated studies --------------------------------------------------


def test_a_complete_generated_ct_is_diagnostic() -> None:
    assert only(generated(iter_study(instances=40))).category is Category.DIAGNOSTIC


def test_a_generated_ct_with_missing_slices_is_incomplete() -> None:
    verdict = only(generated(iter_study(instances=40, drop={7, 8, 30})))
    assert findings(verdict) == {Finding.MISSING_INSTANCES: 3, Finding.SLICE_GAPS: 3}


def test_generated_key_images_are_key_images() -> None:
    verdict = only(generated(iter_study(instances=5, spacing=45.0)))
    assert verdict.category is Category.KEY_IMAGES


def test_generated_screenshots_are_screen_captures() -> None:
    files = iter_study(instances=3, modality="OT", sop_class_uid=SECONDARY_CAPTURE,
                       image_type=["DERIVED", "SECONDARY"], samples_per_pixel=3,
                       bits_allocated=8, conversion_type="WSD", burned_in="YES")
    verdict = only(generated(files))
    assert verdict.category is Category.SCREEN_CAPTURE
    assert Finding.BURNED_IN in findings(verdict)


def test_a_generated_localizer_is_a_localizer() -> None:
    files = iter_study(instances=2, image_type=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    assert only(generated(files)).category is Category.LOCALIZER


def test_a_generated_lossy_jpeg_ct_is_read_with_a_lossy_note() -> None:
    files = iter_study(instances=20, transfer_syntax=JPEGBaseline8Bit, bits_allocated=8,
                       lossy=True)
    verdict = only(generated(files))
    assert verdict.category is Category.DIAGNOSTIC
    assert findings(verdict) == {Finding.LOSSY: None}


def test_a_generated_encapsulated_pdf_and_key_object_selection_are_not_images() -> None:
    pdf = only(generated([("r.dcm", encapsulated_pdf_bytes(b"%PDF-1.4 report"))]))
    assert pdf.category is Category.REPORT
    kos = only(generated([("k.dcm", key_object_bytes([("1.2.3", "1.2.3.4")]))]))
    assert findings(kos) == {Finding.KOS_WITHOUT_IMAGES: None}


def test_no_names_dates_or_free_text_are_kept_in_the_facts() -> None:
    (_, data), = iter_study(instances=1, series_description="Thorax Dr Benali",
                            patient_name="BENALI^AMIRA")
    facts = inspect_dicom(io.BytesIO(data)).image
    assert facts is not None
    assert "BENALI" not in repr(facts).upper() and "THORAX" not in repr(facts).upper()

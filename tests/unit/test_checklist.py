"""The document checklist: what each case needs and what is still missing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from intake.checklist import (
    ChecklistItem,
    ItemKind,
    ReceivedDocument,
    checklist_for,
    is_complete,
    is_satisfied,
    missing_items,
    received_from,
)
from intake.vocabulary import Specialty

K = ItemKind


def answers(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"specialty": "cardiology", "situation": "diagnosis"}
    base.update(overrides)
    return base


def doc(
    kind: ItemKind, *, is_dicom: bool = False, valid: bool = True,
    modality: str | None = None, diagnostic: bool = False,
) -> ReceivedDocument:
    return ReceivedDocument(kind, is_dicom=is_dicom, valid=valid, modality=modality,
                            diagnostic=diagnostic)


def item(items: tuple[ChecklistItem, ...], kind: ItemKind) -> ChecklistItem:
    (found,) = [i for i in items if i.kind is kind]
    return found


def required_kinds(items: tuple[ChecklistItem, ...]) -> set[ItemKind]:
    return {i.kind for i in items if i.required}


FULL_CARDIOLOGY_FILE = (
    doc(K.REFERRAL_LETTER),
    doc(K.IMAGING_DICOM, is_dicom=True, modality="CT", diagnostic=True),
    doc(K.LAB_RESULTS),
    doc(K.TREATMENT_HISTORY),
)


def test_referral_labs_and_treatment_history_are_always_required() -> None:
    for specialty in Specialty:
        kinds = required_kinds(checklist_for(answers(specialty=specialty.value)))
        assert {K.REFERRAL_LETTER, K.LAB_RESULTS, K.TREATMENT_HISTORY} <= kinds


def test_dicom_imaging_is_required_for_imaging_driven_specialties() -> None:
    for specialty in ("oncology", "cardiology", "neurology", "orthopaedics", "transplant"):
        assert item(checklist_for(answers(specialty=specialty)), K.IMAGING_DICOM).required


def test_dicom_imaging_is_optional_elsewhere() -> None:
    for specialty in ("paediatrics", "other"):
        assert not item(checklist_for(answers(specialty=specialty)), K.IMAGING_DICOM).required


def test_the_imaging_hint_asks_for_the_images_not_only_the_report() -> None:
    hint = item(checklist_for(answers()), K.IMAGING_DICOM).hint.msgid
    assert "DICOM" in hint and "not only the PDF report" in hint


def test_pathology_is_required_for_oncology() -> None:
    assert item(checklist_for(answers(specialty="oncology")), K.PATHOLOGY_REPORT).required
    assert not item(checklist_for(answers()), K.PATHOLOGY_REPORT).required


def test_pathology_is_required_when_an_aggressive_cancer_is_reported() -> None:
    data = answers(specialty="neurology", urgency=["aggressive_cancer"])
    assert item(checklist_for(data), K.PATHOLOGY_REPORT).required


def test_the_operative_report_is_listed_but_never_required() -> None:
    for situation in ("surgery", "complex", "diagnosis"):
        listed = item(checklist_for(answers(situation=situation)), K.OPERATIVE_REPORT)
        assert not listed.required


def test_the_referral_letter_comes_first() -> None:
    assert checklist_for({})[0].kind is K.REFERRAL_LETTER


def test_a_full_file_is_complete() -> None:
    items = checklist_for(answers())
    assert is_complete(items, FULL_CARDIOLOGY_FILE, answers())
    assert missing_items(items, FULL_CARDIOLOGY_FILE, required_only=True) == ()


def test_pdf_report_alone_does_not_satisfy_imaging() -> None:
    items = checklist_for(answers())
    received = [d for d in FULL_CARDIOLOGY_FILE if d.kind is not K.IMAGING_DICOM]
    received.append(doc(K.IMAGING_REPORT))
    assert not is_complete(items, received)
    assert [i.kind for i in missing_items(items, received, required_only=True)] == [
        K.IMAGING_DICOM
    ]


def test_imaging_filed_as_dicom_that_is_not_dicom_counts_only_as_a_report() -> None:
    items = checklist_for(answers())
    pdf_under_imaging = doc(K.IMAGING_DICOM, is_dicom=False)
    assert not is_satisfied(item(items, K.IMAGING_DICOM), [pdf_under_imaging])
    assert is_satisfied(item(items, K.IMAGING_REPORT), [pdf_under_imaging])


def test_invalid_documents_satisfy_nothing() -> None:
    items = checklist_for(answers())
    broken = [doc(k, is_dicom=True, valid=False) for k in ItemKind]
    assert missing_items(items, broken) == items


def test_treatment_history_typed_in_the_chat_counts() -> None:
    items = checklist_for(answers())
    received = [d for d in FULL_CARDIOLOGY_FILE if d.kind is not K.TREATMENT_HISTORY]
    assert not is_complete(items, received, answers())
    typed = answers(treatment_history="metformin 500 mg twice daily since 2019")
    assert is_complete(items, received, typed)


def test_blank_typed_treatment_history_does_not_count() -> None:
    history = item(checklist_for(answers()), K.TREATMENT_HISTORY)
    assert not is_satisfied(history, [], answers(treatment_history="   "))
    assert not is_satisfied(history, [], answers(treatment_history=None))


def test_missing_items_lists_optional_items_too_unless_asked_not_to() -> None:
    items = checklist_for(answers())
    everything = missing_items(items, FULL_CARDIOLOGY_FILE)
    assert {i.kind for i in everything} == {
        K.IMAGING_REPORT,
        K.PATHOLOGY_REPORT,
        K.OPERATIVE_REPORT,
    }
    assert not any(i.required for i in everything)


def test_missing_items_keep_checklist_order() -> None:
    items = checklist_for(answers(specialty="oncology"))
    missing = missing_items(items, [doc(K.LAB_RESULTS)])
    assert list(missing) == [i for i in items if i.kind is not K.LAB_RESULTS]


def test_received_may_be_a_one_shot_iterator() -> None:
    items = checklist_for(answers())
    assert is_complete(items, iter(FULL_CARDIOLOGY_FILE))


def test_every_item_has_an_english_label_and_hint() -> None:
    for entry in checklist_for(answers(specialty="oncology")):
        assert entry.label.msgid and entry.hint.msgid


received_documents = st.lists(
    st.builds(
        ReceivedDocument,
        kind=st.sampled_from(list(ItemKind)),
        is_dicom=st.booleans(),
        valid=st.booleans(),
        modality=st.sampled_from([None, "CT", "MR", "US", "OT", "SR", "DX"]),
        diagnostic=st.booleans(),
    ),
    max_size=12,
)
any_answers = st.fixed_dictionaries(
    {"specialty": st.sampled_from([s.value for s in Specialty])},
    optional={"treatment_history": st.one_of(st.none(), st.text(max_size=20))},
)


@given(any_answers, received_documents)
def test_adding_invalid_documents_never_changes_what_is_missing(
    data: dict[str, object], received: list[ReceivedDocument]
) -> None:
    items = checklist_for(data)
    valid = [d for d in received if d.valid]
    assert missing_items(items, received, data) == missing_items(items, valid, data)


@given(any_answers, received_documents)
def test_imaging_is_satisfied_only_by_valid_diagnostic_dicom_of_a_read_modality(
    data: dict[str, object], received: list[ReceivedDocument]
) -> None:
    imaging = item(checklist_for(data), K.IMAGING_DICOM)
    readable = {"CT", "MR", "DX"} | ({"US"} if data["specialty"] == "cardiology" else set())
    has_images = any(
        d.valid and d.is_dicom and d.kind is K.IMAGING_DICOM and d.diagnostic
        and d.modality in readable
        for d in received
    )
    assert is_satisfied(imaging, received, data) is has_images


def test_screenshots_alone_leave_the_imaging_item_open() -> None:
    imaging = item(checklist_for(answers(specialty="oncology")), K.IMAGING_DICOM)
    screenshots = doc(K.IMAGING_DICOM, is_dicom=True, modality="OT", diagnostic=False)
    assert not is_satisfied(imaging, [screenshots])
    ct = doc(K.IMAGING_DICOM, is_dicom=True, modality="CT", diagnostic=True)
    assert is_satisfied(imaging, [screenshots, ct])


def test_echocardiography_counts_for_cardiology_only() -> None:
    echo = doc(K.IMAGING_DICOM, is_dicom=True, modality="US", diagnostic=True)
    cardiology = item(checklist_for(answers(specialty="cardiology")), K.IMAGING_DICOM)
    oncology = item(checklist_for(answers(specialty="oncology")), K.IMAGING_DICOM)
    assert is_satisfied(cardiology, [echo]) and not is_satisfied(oncology, [echo])


def test_stored_documents_carry_their_series_verdict_into_the_checklist() -> None:
    def slice_info(series: str, number: int, **image: object) -> dict[str, object]:
        facts: dict[str, object] = {"image_type": ["ORIGINAL", "PRIMARY", "AXIAL"],
                                    "number": number, "position": [0, 0, number],
                                    "orientation": [1, 0, 0, 0, 1, 0], "thickness": 1.0}
        facts.update(image)
        return {"series_uid": series, "study_uid": "s", "modality": "CT", "image": facts}

    stack = [("imaging_dicom", True, True, slice_info("a", n)) for n in range(1, 31)]
    captures = [("imaging_dicom", True, True,
                 {**slice_info("b", n, image_type=["DERIVED", "SECONDARY"]),
                  "modality": "OT"}) for n in range(1, 4)]
    imaging = item(checklist_for(answers()), K.IMAGING_DICOM)
    assert not is_satisfied(imaging, received_from(captures))
    assert is_satisfied(imaging, received_from(captures + stack))
    gapped = [row for row in stack if row[3]["image"]["number"] != 15]  # type: ignore[index]
    assert not is_satisfied(imaging, received_from(gapped))


@given(any_answers, received_documents, received_documents)
def test_receiving_more_never_makes_a_file_less_complete(
    data: dict[str, object], first: list[ReceivedDocument], more: list[ReceivedDocument]
) -> None:
    items = checklist_for(data)
    before = {i.kind for i in missing_items(items, first, data)}
    after = {i.kind for i in missing_items(items, first + more, data)}
    assert after <= before
    if is_complete(items, first, data):
        assert is_complete(items, first + more, data)

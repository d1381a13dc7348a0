"""Diagnostic quality of received imaging: verdicts judged over a case, kept per document.

`bot.imaging.facts.image_facts` keeps, per document (`inspection["image"]`), what the pure
rules in `intake.imaging` need. A series' verdict depends on all its instances, which arrive
as separate uploads, so it is judged over the whole case (`intake.imaging.assess_inspections`);
`record_verdicts` stores each series' verdict in its documents' `inspection["quality"]`
(written when the family is told, so the stored verdict is the one its message was based on).

Nothing here logs: series and study UIDs are identifiers of health data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.imaging import (
    SeriesVerdict,
    assess_inspections,
    is_document_class,
)
from storage.tables import Document

__all__ = [
    "is_report",
    "middle_instance",
    "record_verdicts",
    "series_documents",
]

def is_report(sop_class_uid: str | None, modality: str | None) -> bool:
    """A report saved as DICOM (PDF, structured report): filed with the imaging reports."""
    return is_document_class(sop_class_uid, modality)


async def _dicom_documents(session: AsyncSession, case_id: int) -> list[Document]:
    return list((await session.execute(
        select(Document).where(Document.case_id == case_id, Document.is_dicom.is_(True),
                               Document.valid.is_(True)).order_by(Document.id)
    )).scalars())


async def record_verdicts(
    session: AsyncSession, case_id: int
) -> tuple[dict[str, SeriesVerdict], frozenset[str]]:
    """Judge the case's series and store each verdict with its documents (where it changed).

    Also returns the series whose verdict was already stored unchanged on an earlier
    document: the family was told about those, so a new image of them need not repeat it.
    """
    documents = await _dicom_documents(session, case_id)
    verdicts = assess_inspections(d.inspection or {} for d in documents)
    known: set[str] = set()
    for document in documents:
        info = document.inspection or {}
        uid = str(info.get("series_uid") or "")
        verdict = verdicts.get(uid)
        if verdict is None:
            continue
        stored = verdict.as_json()
        previous = info.get("quality")
        if isinstance(previous, dict) and previous.get("category") == stored["category"]:
            known.add(uid)
        if previous != stored:
            document.inspection = {**info, "quality": stored}
    return verdicts, frozenset(known)


def middle_instance(inspections: Sequence[tuple[int, dict[str, Any]]]) -> int | None:
    """The document id of a series' middle image: by instance number, else by arrival."""
    if not inspections:
        return None

    def order(item: tuple[int, dict[str, Any]]) -> tuple[float, int]:
        image = item[1].get("image") or {}
        number = image.get("number") if isinstance(image, dict) else None
        return (float(number) if isinstance(number, int | float) else math.inf, item[0])

    ordered = sorted(inspections, key=order)
    return ordered[len(ordered) // 2][0]


def series_documents(
    documents: Iterable[tuple[int, dict[str, Any]]],
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Documents (id, inspection) grouped by series UID, in the order given."""
    grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for document_id, info in documents:
        uid = info.get("series_uid")
        if isinstance(uid, str) and uid:
            grouped.setdefault(uid, []).append((document_id, info))
    return grouped

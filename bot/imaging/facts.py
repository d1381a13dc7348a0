"""The header facts the imaging quality rules need, read from a parsed DICOM header.

Called by `bot.imaging.reading` on the header it has already read (`stop_before_pixels`): no file
access, no pixels. Free text is not kept (only whether the series description names a
localizer), nor any name or date.
"""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from intake.imaging import names_localizer

__all__ = ["image_facts"]

_MAX_REFERENCES = 1000


def _value(ds: Dataset, keyword: str) -> Any:
    try:
        element = ds.get(keyword)
    except Exception:  # a malformed value is treated as absent
        return None
    return element


def _words(ds: Dataset, keyword: str) -> list[str]:
    value = _value(ds, keyword)
    if value is None:
        return []
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v).strip().upper() for v in values][:8]


def _numbers(ds: Dataset, keyword: str, size: int) -> list[float] | None:
    value = _value(ds, keyword)
    try:
        numbers = [float(v) for v in value] if value is not None else []
    except (TypeError, ValueError):
        return None
    if len(numbers) != size or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def _number(ds: Dataset, keyword: str) -> float | None:
    value = _value(ds, keyword)
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if value else None
    try:
        number = float(value) if value is not None and str(value).strip() else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _referenced_series(ds: Dataset) -> list[str]:
    """The series a Key Object Selection document points at (its evidence sequence)."""
    found: list[str] = []
    for keyword in ("CurrentRequestedProcedureEvidenceSequence",
                    "IdenticalDocumentsSequence"):
        for study in _value(ds, keyword) or ():
            for series in _value(study, "ReferencedSeriesSequence") or ():
                uid = _value(series, "SeriesInstanceUID")
                if uid and str(uid) not in found and len(found) < _MAX_REFERENCES:
                    found.append(str(uid))
    return found


def image_facts(ds: Dataset, sop_class_uid: str | None, syntax: str | None) -> dict[str, Any]:
    """The header facts the quality rules need, JSON-safe; no names, dates or free text."""
    number = _number(ds, "InstanceNumber")
    description = str(_value(ds, "SeriesDescription") or "")
    facts: dict[str, Any] = {
        "sop_class": sop_class_uid,
        "image_type": _words(ds, "ImageType"),
        "conversion": next(iter(_words(ds, "ConversionType")), None),
        "burned_in": _words(ds, "BurnedInAnnotation")[:1] == ["YES"],
        "number": int(number) if number is not None else None,
        "position": _numbers(ds, "ImagePositionPatient", 3),
        "orientation": _numbers(ds, "ImageOrientationPatient", 6),
        "thickness": _number(ds, "SliceThickness"),
        "lossy": _words(ds, "LossyImageCompression")[:1] == ["01"],
        "syntax": syntax,
        "refs": _referenced_series(ds),
    }
    # The series description is free text: only whether it names a localizer is kept.
    if names_localizer(description):
        facts["description"] = "localizer"
    return facts

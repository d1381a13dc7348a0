"""The vocabulary of imaging quality: instance facts in, series verdicts out (no rules here).

`InstanceFacts` is what one instance's header says, as kept in a document's stored
inspection (`inspection["image"]`, written by `bot.imaging.facts`); `SeriesVerdict` is what
`intake.imaging` concludes about a series, and `as_json` is what a document keeps of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Category", "Finding", "InstanceFacts", "Note", "SeriesVerdict", "text"]


class Category(StrEnum):
    """The verdict on one series; the values are stored with each document."""

    DIAGNOSTIC = "diagnostic"
    INCOMPLETE = "incomplete"
    KEY_IMAGES = "key_images"
    SCREEN_CAPTURE = "screen_capture"
    LOCALIZER = "localizer"
    REPORT = "report"
    KEY_OBJECTS = "key_objects"
    UNASSESSED = "unassessed"


class Finding(StrEnum):
    """One observation behind a verdict, explained to coordinators."""

    SECONDARY_CAPTURE = "secondary_capture"
    DERIVED = "derived"
    SCREEN_SAVE = "screen_save"
    PHOTOGRAPHED_FILM = "photographed_film"
    BURNED_IN = "burned_in"
    SINGLE_IMAGE = "single_image"
    SPARSE = "sparse"
    FEW_IMAGES = "few_images"
    KOS_WITHOUT_IMAGES = "kos_without_images"
    MISSING_INSTANCES = "missing_instances"
    SLICE_GAPS = "slice_gaps"
    DUPLICATE_POSITIONS = "duplicate_positions"
    LOCALIZER = "localizer"
    LOSSY = "lossy"
    THICK_SLICES = "thick_slices"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Note:
    """A finding with the number that goes with it (missing images, millimetres)."""

    finding: Finding
    count: int | None = None
    value: float | None = None


@dataclass(frozen=True)
class InstanceFacts:
    """What the rules need from one instance's header."""

    series_uid: str
    study_uid: str | None = None
    modality: str | None = None
    sop_class_uid: str | None = None
    image_type: tuple[str, ...] = ()
    conversion_type: str | None = None
    burned_in: bool = False
    instance_number: int | None = None
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, float, float, float, float, float] | None = None
    slice_thickness: float | None = None
    lossy: bool = False
    transfer_syntax: str | None = None
    frames: int = 1
    referenced_series: tuple[str, ...] = ()
    description: str | None = None

    @classmethod
    def from_inspection(cls, info: Mapping[str, Any]) -> InstanceFacts | None:
        """Rebuild from a document's stored inspection; None when it holds no image facts."""
        image = info.get("image")
        series = info.get("series_uid")
        if not isinstance(image, Mapping) or not isinstance(series, str) or not series:
            return None
        return cls(
            series_uid=series,
            study_uid=text(info.get("study_uid")),
            modality=text(info.get("modality")),
            sop_class_uid=text(image.get("sop_class")),
            image_type=tuple(str(v).strip().upper() for v in image.get("image_type") or ()),
            conversion_type=text(image.get("conversion")),
            burned_in=bool(image.get("burned_in")),
            instance_number=_int(image.get("number")),
            position=_position(image.get("position")),
            orientation=_orientation(image.get("orientation")),
            slice_thickness=_float(image.get("thickness")),
            lossy=bool(image.get("lossy")),
            transfer_syntax=text(image.get("syntax")),
            frames=max(1, _int(info.get("frames")) or 1),
            referenced_series=tuple(str(v) for v in image.get("refs") or ()),
            description=text(image.get("description")),
        )


@dataclass(frozen=True)
class SeriesVerdict:
    """The verdict on one series, with its reasons and the facts a message needs."""

    series_uid: str
    study_uid: str | None
    modality: str | None
    category: Category
    notes: tuple[Note, ...]
    images: int

    @property
    def diagnostic(self) -> bool:
        """A radiologist can read it (lossy or thick slices are noted, not disqualifying)."""
        return self.category in (Category.DIAGNOSTIC, Category.UNASSESSED)

    def as_json(self) -> dict[str, Any]:
        """What a document's inspection keeps of its series' verdict."""
        return {
            "category": str(self.category),
            "notes": [
                {k: v for k, v in (("finding", str(n.finding)), ("count", n.count),
                                   ("value", n.value)) if v is not None}
                for n in self.notes
            ],
            "images": self.images,
        }


def text(value: object) -> str | None:
    """A stored value as stripped text, or None when absent or blank."""
    return str(value).strip() or None if value is not None else None


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _float(value: object) -> float | None:
    try:
        number = float(str(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _floats(value: object, size: int) -> tuple[float, ...] | None:
    if not isinstance(value, list | tuple) or len(value) != size:
        return None
    numbers = tuple(_float(v) for v in value)
    if any(n is None for n in numbers):
        return None
    return tuple(n for n in numbers if n is not None)


def _position(value: object) -> tuple[float, float, float] | None:
    v = _floats(value, 3)
    return (v[0], v[1], v[2]) if v else None


def _orientation(value: object) -> tuple[float, float, float, float, float, float] | None:
    v = _floats(value, 6)
    return (v[0], v[1], v[2], v[3], v[4], v[5]) if v else None

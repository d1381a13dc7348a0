"""Small pictures of imaging series for coordinators: one frame, windowed, as PNG.

`render_preview` decodes one frame of one instance: pydicom's `pixel_array(file, index=...)`
reads only that frame's bytes from the (decrypting, seekable) file, so memory is bounded by
`MAX_PREVIEW_PIXELS` whatever the study's size. Compressed transfer syntaxes go through
pydicom's pixel-data handlers (pylibjpeg with libjpeg and openjpeg, RLE built in); anything
they cannot decode, or any surprise in the header, gives None ("no preview"), never an error.

The grey levels follow the series' own display settings: the modality rescale, then the first
Window Center / Window Width pair with the linear function of PS3.3 C.11.2.1.2.1, else the
frame's own range; MONOCHROME1 is inverted.
"""

from __future__ import annotations

import io
import logging
from typing import Any, BinaryIO, cast

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.utils import pixel_array

from bot.imaging.reading import configure_pydicom

__all__ = ["MAX_PREVIEW_PIXELS", "PREVIEW_SIDE", "render_preview"]

log = logging.getLogger(__name__)

PREVIEW_SIDE = 192
MAX_PREVIEW_PIXELS = 4096 * 4096 * 3


def _first(value: Any) -> float | None:
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _grey(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """8-bit grey levels from stored values: rescale, window, invert MONOCHROME1."""
    values = frame.astype(np.float32)
    slope = _first(ds.get("RescaleSlope")) or 1.0
    intercept = _first(ds.get("RescaleIntercept")) or 0.0
    values = values * slope + intercept
    centre = _first(ds.get("WindowCenter"))
    width = _first(ds.get("WindowWidth"))
    if centre is not None and width is not None and width >= 1:
        scaled = ((values - (centre - 0.5)) / (width - 1) + 0.5).clip(0.0, 1.0)
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        scaled = 1.0 - scaled
    return (scaled * 255.0).round().astype(np.uint8)


class _Reader:
    """Only read, seek and tell: pydicom probes file objects for a `name` that the store's
    decrypting files cannot give."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


def _header(fh: BinaryIO) -> Dataset:
    fh.seek(0)
    ds = dcmread(fh, stop_before_pixels=True, defer_size=64 * 1024)
    fh.seek(0)
    return ds


def _picture(fh: BinaryIO) -> Image.Image | None:
    ds = _header(fh)
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    frames = int(ds.get("NumberOfFrames") or 1)
    if not rows or not columns or rows * columns * samples > MAX_PREVIEW_PIXELS:
        return None
    frame = pixel_array(fh, index=frames // 2 if frames > 1 else None)
    if samples == 1 and frame.ndim == 2:
        return Image.fromarray(_grey(frame, ds), mode="L")
    if samples == 3 and frame.ndim == 3 and frame.shape[-1] == 3:
        if frame.dtype != np.uint8:
            top = float(frame.max()) or 1.0
            frame = (frame.astype(np.float32) * (255.0 / top)).astype(np.uint8)
        return Image.fromarray(frame, mode="RGB")
    return None


def render_preview(fh: BinaryIO, side: int = PREVIEW_SIDE) -> bytes | None:
    """A PNG of the instance's middle frame, at most `side` pixels; None when not possible.

    Blocking: run it in a worker thread.
    """
    configure_pydicom()
    try:
        picture = _picture(cast(BinaryIO, _Reader(fh)))
        if picture is None:
            return None
        picture.thumbnail((side, side))
        out = io.BytesIO()
        picture.save(out, format="PNG", optimize=True)
    except Exception as error:  # decoders raise anything on exotic or hostile data
        log.info("no preview", extra={"error": type(error).__name__})
        return None
    return out.getvalue()

"""Series previews: one frame decoded in bounded memory, windowed, as a small PNG, or none."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import JPEGBaseline8Bit

from bot.documents.inspection import open_parts
from bot.imaging.previews import PREVIEW_SIDE, render_preview
from storage.files import EncryptedDiskStore, chunks_from_file
from tests.dicom_factory import encapsulated_pdf_bytes, instance_bytes


def picture(data: bytes | None) -> Image.Image:
    assert data is not None and data.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(data))


def test_a_ct_slice_is_windowed_with_its_own_centre_and_width() -> None:
    # The ramp holds stored values 0..2040; a 0/400 window maps -200..200 to black..white.
    wide = picture(render_preview(io.BytesIO(instance_bytes(
        rows=64, columns=64, gradient=True, window=(0.0, 400.0)))))
    narrow = picture(render_preview(io.BytesIO(instance_bytes(
        rows=64, columns=64, gradient=True, window=(1000.0, 200.0)))))
    assert wide.mode == "L" and wide.size == (64, 64)
    assert wide.getpixel((0, 0)) == 128 and wide.getpixel((63, 0)) == 255
    assert narrow.getpixel((0, 0)) == 0 and narrow.getpixel((63, 0)) == 0


def test_large_images_are_shrunk_and_colour_screenshots_stay_in_colour() -> None:
    big = picture(render_preview(io.BytesIO(instance_bytes(rows=512, columns=384,
                                                           gradient=True))))
    assert max(big.size) == PREVIEW_SIDE and big.size[0] < big.size[1]
    rgb = picture(render_preview(io.BytesIO(instance_bytes(
        modality="OT", samples_per_pixel=3, bits_allocated=8, gradient=True))))
    assert rgb.mode == "RGB"


def test_compressed_transfer_syntaxes_are_decoded() -> None:
    jpeg = instance_bytes(rows=32, columns=32, bits_allocated=8, gradient=True,
                          transfer_syntax=JPEGBaseline8Bit)
    assert picture(render_preview(io.BytesIO(jpeg))).size == (32, 32)
    for name in ("MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                 "MR_small_jpeg_ls_lossless.dcm"):
        path = get_testdata_file(name, download=False)
        assert path is not None
        assert picture(render_preview(io.BytesIO(Path(str(path)).read_bytes()))).size == (64, 64)


def test_the_middle_frame_of_a_multiframe_image_is_shown() -> None:
    data = instance_bytes(rows=16, columns=16, frames=9, gradient=True)
    assert picture(render_preview(io.BytesIO(data))).size == (16, 16)


def test_what_cannot_be_pictured_gives_no_preview_and_no_error() -> None:
    assert render_preview(io.BytesIO(encapsulated_pdf_bytes(b"%PDF-1.4 x"))) is None
    assert render_preview(io.BytesIO(b"\x00" * 128 + b"DICM" + b"\xff" * 64)) is None
    cut = instance_bytes(rows=64, columns=64, gradient=True)[:-1000]
    assert render_preview(io.BytesIO(cut)) is None


async def test_a_preview_is_decoded_from_the_encrypted_store(tmp_path: Path) -> None:
    store = EncryptedDiskStore(tmp_path, bytes(range(32)), durable=False)
    data = instance_bytes(rows=48, columns=48, bits_allocated=8, gradient=True,
                          transfer_syntax=JPEGBaseline8Bit)
    stored = await store.put(chunks_from_file(io.BytesIO(data)), max_size=1 << 20)
    with open_parts(store, [{"key": stored.key, "size": stored.size}]) as fh:
        assert picture(render_preview(fh)).size == (48, 48)

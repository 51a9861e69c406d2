"""An edit's uploads: a PNG or JPEG without a mask goes to the pipeline as sent; a mask makes the
photo transparent (so repainted) where its alpha is 0 and crops to what is kept; anything that is
not an image, too many pixels, or a mask of the wrong size or without alpha is refused, naming the
field."""

from __future__ import annotations

import io

import numpy as np
import pytest
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.photos import decoded_rgb, image_size, photo_for_pipeline
from PIL import Image

PIXELS = 4096 * 4096
BYTES = 20 * 2**20


def encoded(array: np.ndarray, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format=fmt, **options)
    return out.getvalue()


def photo(width: int = 40, height: int = 30) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)


def mask(width: int = 40, height: int = 30, keep: tuple[slice, slice] = (slice(5, 15), slice(10, 30))) -> bytes:
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[(*keep, slice(3, 4))] = 255
    return encoded(rgba)


def refused(image: bytes, stencil: bytes | None = None, max_pixels: int = PIXELS) -> ApiError:
    with pytest.raises(ApiError) as caught:
        photo_for_pipeline(image, stencil, max_pixels, BYTES)
    return caught.value


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_without_a_mask_a_format_the_pipeline_reads_goes_as_sent(fmt: str):
    data = encoded(photo(), fmt)
    assert photo_for_pipeline(data, None, PIXELS, BYTES) is data


def test_a_webp_becomes_a_png():
    sent = photo_for_pipeline(encoded(photo(), "WEBP", lossless=True), None, PIXELS, BYTES)
    with Image.open(io.BytesIO(sent)) as picture:
        assert picture.format == "PNG" and picture.size == (40, 30)
        assert np.array_equal(np.asarray(picture.convert("RGB")), photo())


def test_a_mask_makes_the_edited_part_transparent_and_crops_to_what_is_kept():
    sent = photo_for_pipeline(encoded(photo()), mask(), PIXELS, BYTES)
    with Image.open(io.BytesIO(sent)) as picture:
        assert (picture.format, picture.mode, picture.size) == ("PNG", "RGBA", (20, 10))
        pixels = np.asarray(picture)
    assert (pixels[..., 3] == 255).all()
    assert np.array_equal(pixels[..., :3], photo()[5:15, 10:30])


def test_the_mask_is_compared_with_the_photo_as_displayed():
    """An EXIF-rotated JPEG stored 30x40 displays 40x30: a 40x30 mask fits it."""
    stored = Image.fromarray(photo(30, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = io.BytesIO()
    stored.save(out, format="JPEG", exif=exif)
    with Image.open(io.BytesIO(photo_for_pipeline(out.getvalue(), mask(40, 30), PIXELS, BYTES))) as picture:
        assert picture.size == (20, 10)


@pytest.mark.parametrize(("image", "stencil", "param", "status"), [
    (b"%PDF-1.7 not an image", None, "image", 400),
    (encoded(photo())[:200], None, "image", 400),
    (encoded(photo()), b"GIF89a not a mask", "mask", 400),
    (encoded(photo()), mask(41, 30), "mask", 400),
    (encoded(photo()), encoded(photo()), "mask", 400),
    (encoded(photo()), mask(keep=(slice(0, 0), slice(0, 0))), "mask", 400),
])
def test_bad_uploads_are_refused_naming_the_field(image: bytes, stencil: bytes | None, param: str, status: int):
    refusal = refused(image, stencil)
    assert (refusal.status, refusal.param) == (status, param)


def test_too_many_pixels_is_a_413_read_from_the_header():
    refusal = refused(encoded(photo()), None, max_pixels=40 * 30 - 1)
    assert (refusal.status, refusal.param, refusal.code) == (413, "image", "image_too_large")
    assert photo_for_pipeline(encoded(photo()), mask(), 40 * 30, BYTES), "exactly the limit is served"


def test_the_pipelines_png_is_measured_and_decoded_for_reencoding():
    png = encoded(photo())
    assert image_size(png) == (40, 30)
    assert np.array_equal(decoded_rgb(png), photo())

"""The photoshoot's pure image operations: decode limits, segmentation verdicts, placement, exact compositing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine_builder.photoshoot import (
    Box,
    PhotoshootInputError,
    Settings,
    blend_weights,
    bounding_box,
    compose,
    crop,
    decode_image,
    foreground_mask,
    place,
    place_layer,
    sdxl_canvas,
    segmenter_input,
    settings_from_env,
)

SETTINGS = Settings()
PROBABILITY = {"input_size": None, "mean": [0, 0, 0], "std": [1, 1, 1], "output": "probability"}


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_a_png_decodes_to_rgb_pixels_exactly():
    pixels = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(encode(Image.fromarray(pixels)), SETTINGS), pixels)


def test_transparency_is_flattened_on_white_so_a_cut_out_product_segments_like_a_studio_shot():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1:3, 1:3] = (200, 10, 10, 255)
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA")), SETTINGS)
    assert (decoded[0, 0] == 255).all()
    assert tuple(decoded[1, 1]) == (200, 10, 10)


def test_a_jpeg_is_accepted_and_other_formats_are_not():
    assert decode_image(encode(Image.new("RGB", (8, 8), "red"), "JPEG"), SETTINGS).shape == (8, 8, 3)
    with pytest.raises(PhotoshootInputError, match="image: not a PNG or JPEG image"):
        decode_image(encode(Image.new("RGB", (8, 8), "red"), "GIF"), SETTINGS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "image: empty"),
        (b"GIF89a not really", "image: not a PNG or JPEG image"),
        (encode(Image.new("RGB", (64, 64), "red"))[:60], "image: cannot decode"),
    ],
)
def test_unusable_bytes_fail_naming_the_image(data, message):
    with pytest.raises(PhotoshootInputError, match=message):
        decode_image(data, SETTINGS)


def test_too_many_pixels_is_refused_from_the_header_before_decoding():
    huge = encode(Image.new("1", (5000, 5000)))  # 25 MP, a few kB as a bilevel PNG
    with pytest.raises(PhotoshootInputError, match=r"image: 5000x5000 pixels is larger than the limit of 16777216"):
        decode_image(huge, SETTINGS)


def test_too_many_bytes_is_refused_before_opening():
    with pytest.raises(PhotoshootInputError, match=r"image: 0.0 MB is larger than the limit"):
        decode_image(encode(Image.new("RGB", (8, 8))), Settings(max_image_bytes=10))


def test_the_segmenter_input_is_resized_and_normalised_as_its_config_says():
    image = np.full((10, 20, 3), 255, np.uint8)
    feed = segmenter_input(image, {"input_size": [4, 6], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]})
    assert feed.shape == (1, 3, 4, 6) and feed.dtype == np.float32
    np.testing.assert_allclose(feed, 1.0)


def test_the_mask_is_the_raw_probability_thresholded_and_logits_go_through_a_sigmoid():
    probability = np.zeros((1, 1, 8, 8), np.float32)
    probability[..., 2:6, 2:6] = 0.9
    assert foreground_mask(probability, (8, 8), PROBABILITY, 0.5).sum() == 16
    logits = np.where(probability > 0, 3.0, -3.0).astype(np.float32)
    assert foreground_mask(logits, (8, 8), {"output": "logits"}, 0.5).sum() == 16


def test_a_low_resolution_mask_is_scaled_to_the_photo():
    probability = np.zeros((1, 1, 4, 4), np.float32)
    probability[..., 1:3, 1:3] = 1.0
    mask = foreground_mask(probability, (40, 40), PROBABILITY, 0.5)
    assert mask.shape == (40, 40) and mask[20, 20] and not mask[0, 0]


def test_no_foreground_is_the_models_verdict_with_the_count_in_the_message():
    probability = np.full((1, 1, 8, 8), 0.2, np.float32)
    probability[..., 0, 0] = 0.9  # one stray pixel is not a product
    with pytest.raises(PhotoshootInputError, match=r"image: no foreground found .*marked 1 of 64 pixels"):
        foreground_mask(probability, (8, 8), PROBABILITY, 0.5)


def test_the_product_is_scaled_to_the_canvas_and_placed():
    product = Box(10, 20, 40, 20)
    assert place(product, 200, 100, 0.5, "center") == Box(75, 37, 50, 25)
    assert place(product, 200, 100, 0.5, "bottom") == Box(75, 100 - 25 - 5, 50, 25)
    assert place(product, 200, 100, 0.5, "left") == Box(5, 37, 50, 25)
    assert place(product, 200, 100, 0.4, "center").width == 40, "0.4 x 100 = 40 = its own width: not resampled"


@pytest.mark.parametrize(
    ("scale", "placement", "message"),
    [(0.01, "center", "product_scale"), (1.5, "center", "product_scale"), (0.5, "diagonal", "placement")],
)
def test_bad_layouts_name_their_input(scale, placement, message):
    with pytest.raises(PhotoshootInputError, match=message):
        place(Box(0, 0, 4, 4), 64, 64, scale, placement)


def test_a_product_placed_at_its_own_size_keeps_its_bytes():
    rng = np.random.default_rng(2)
    product = rng.integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
    mask = np.full((6, 9), 255, np.uint8)
    layer, alpha = place_layer(product, mask, Box(3, 2, 9, 6), 16, 12)
    np.testing.assert_array_equal(layer[2:8, 3:12], product)
    assert alpha.sum() == 54


def test_crop_and_bounding_box_cut_exactly_the_product():
    mask = np.zeros((10, 10), bool)
    mask[2:5, 3:8] = True
    box = bounding_box(mask)
    assert box == Box(3, 2, 5, 3)
    image = np.arange(300, dtype=np.uint8).reshape(10, 10, 3)
    pixels, product_mask = crop(image, mask, box)
    np.testing.assert_array_equal(pixels, image[2:5, 3:8])
    assert (product_mask == 255).all()


def test_sdxl_sees_the_product_on_a_neutral_canvas_and_repaints_everything_else():
    product = np.full((8, 8, 3), 30, np.uint8)
    mask = np.full((8, 8), 255, np.uint8)
    canvas, repaint = sdxl_canvas(product, mask, Box(16, 16, 16, 16), 32, 32, factor=2)
    assert canvas.shape == (32, 32, 3) and repaint.shape == (32, 32)
    assert (repaint[8:16, 8:16] == 0).all() and (repaint == 0).sum() == 64
    assert (canvas[8:16, 8:16] == 30).all() and (canvas[0, 0] == 127).all()


def test_blend_weights_ramp_over_the_outer_rings_only():
    alpha = np.zeros((11, 11), bool)
    alpha[1:10, 1:10] = True
    weights = blend_weights(alpha, 2)
    assert weights[1, 5] == pytest.approx(1 / 3) and weights[2, 5] == pytest.approx(2 / 3)
    assert weights[3, 5] == 1.0 and weights[0, 5] == 0.0


def test_compose_is_exact_on_the_core_and_outside_and_mixes_only_the_band():
    rng = np.random.default_rng(4)
    generated = rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
    product = rng.integers(0, 256, size=(10, 10, 3), dtype=np.uint8)
    product_mask = np.full((10, 10), 255, np.uint8)
    image, weights = compose(generated, product, product_mask, Box(5, 5, 10, 10), blend_pixels=2)
    np.testing.assert_array_equal(image[7:13, 7:13], product[2:8, 2:8])
    outside = np.ones((20, 20), bool)
    outside[5:15, 5:15] = False
    np.testing.assert_array_equal(image[outside], generated[outside])
    expected_edge = np.round((product[0, 4].astype(float) + 2 * generated[5, 9].astype(float)) / 3)
    np.testing.assert_array_equal(image[5, 9], expected_edge.astype(np.uint8))
    assert weights[10, 10] == 255 and weights[5, 9] == 85 and weights[0, 0] == 0


def test_serving_settings_come_from_the_environment_and_bad_ones_are_named():
    settings = settings_from_env({"PHOTOSHOOT_BLEND_PIXELS": "4", "PHOTOSHOOT_MAX_IMAGE_PIXELS": "100"})
    assert (settings.blend_pixels, settings.max_image_pixels) == (4, 100)
    with pytest.raises(PhotoshootInputError, match="PHOTOSHOOT_DEFAULT_placement"):
        settings_from_env({"PHOTOSHOOT_DEFAULT_PLACEMENT": "nowhere"})
    with pytest.raises(PhotoshootInputError, match="PHOTOSHOOT_"):
        settings_from_env({"PHOTOSHOOT_MASK_THRESHOLD": "high"})

"""The tiny segmenter through torch and ONNX Runtime: its documented function, its export, a bad model.

Integration: these run torch and ONNX Runtime (the unit tests of the photoshoot build need neither).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine_builder.errors import ExportError
from engine_builder.parity import ort_session
from engine_builder.photoshoot import foreground_mask, segmenter_input
from engine_builder.scenes.render import render_product
from engine_builder.segmentation import (
    SHARPNESS,
    WHITE_LEVEL,
    SegmenterConfig,
    check_segmenter,
    export_tiny_segmenter,
    read_config,
    resolve_segmenter,
    tiny_segmenter,
)
from tests.builder_extra import builder_module

torch = builder_module("torch", "the segmenter is a torch module")


def test_the_white_studio_segmenter_computes_its_documented_function():
    pixels = np.random.default_rng(0).uniform(0, 1, size=(1, 3, 9, 7)).astype(np.float32)
    with torch.inference_mode():
        got = tiny_segmenter()(torch.from_numpy(pixels)).numpy()
    expected = 1 / (1 + np.exp(-SHARPNESS * (WHITE_LEVEL - pixels.mean(axis=1, keepdims=True))))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_exported_white_studio_segmenter_runs_in_onnx_runtime_at_any_size(tmp_path: Path):
    directory = resolve_segmenter("builtin://tiny-segmenter-white", tmp_path)
    config = read_config(directory)
    assert config == SegmenterConfig()
    names = check_segmenter(directory, config)
    session = ort_session(directory / "model.onnx")
    image = np.full((1, 3, 30, 50), 1.0, np.float32)
    image[..., 10:20, 10:20] = 0.2  # a dark square on white
    (probability,) = session.run([names["output_name"]], {names["input_name"]: image})
    assert probability.shape == (1, 1, 30, 50)
    assert ((probability[0, 0] > 0.5) == (image[0, 0] < WHITE_LEVEL)).all()
    assert export_tiny_segmenter(tmp_path, "tiny-segmenter-white") == directory, "reused, not re-exported"


def test_the_trained_segmenter_finds_the_product_on_held_out_cluttered_photos(tmp_path: Path):
    """Photos from a seed the training never drew: the product, not the distractors or the stripes."""
    directory = resolve_segmenter("builtin://tiny-segmenter", tmp_path)
    config = read_config(directory)
    assert config.input_size == (64, 64)
    names = check_segmenter(directory, config)
    session = ort_session(directory / "model.onnx")
    rng = np.random.default_rng(98765)
    ious = []
    for _ in range(20):
        photo = render_product(rng)
        (output,) = session.run([names["output_name"]], {names["input_name"]: segmenter_input(photo.image,
                                                                                              config.to_json())})
        predicted = foreground_mask(output, photo.image.shape[:2], config.to_json(), 0.5)
        truth = photo.masks[0]
        ious.append((predicted & truth).sum() / (predicted | truth).sum())
    # Measured 0.85 on the evaluation seed (manifest); the goal of 0.9 is not reached yet.
    assert np.mean(ious) >= 0.8, f"mean IoU {np.mean(ious):.3f}"


def test_a_model_that_does_not_output_a_mask_fails_the_build(tmp_path: Path):
    directory = tmp_path / "bad"
    directory.mkdir()
    torch.onnx.export(
        torch.nn.Conv2d(3, 2, 1),
        (torch.rand(1, 3, 8, 8),),
        str(directory / "model.onnx"),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
    )
    with pytest.raises(ExportError, match=r"expected \[N, 1, h, w\]"):
        check_segmenter(directory, SegmenterConfig(input_size=(8, 8)))

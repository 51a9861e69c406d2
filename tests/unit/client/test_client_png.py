"""Images carry their prompt and seed in PNG text chunks, so an image says how to make it again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusion_operator.client.errors import UsageError
from diffusion_operator.client.png import png_metadata, read_png_metadata, write_png
from PIL import Image


def test_prompt_seed_and_settings_round_trip_through_the_png(tmp_path: Path):
    pixels = np.arange(16 * 24 * 3, dtype=np.uint8).reshape(16, 24, 3)
    path = write_png(tmp_path / "sub" / "out.png", pixels,
                     png_metadata("a red fox in snow", 1234, negative_prompt="blurry", steps=4))
    meta = read_png_metadata(path)
    assert meta["prompt"] == meta["Description"] == "a red fox in snow"
    assert meta["seed"] == "1234" and meta["steps"] == "4" and meta["negative_prompt"] == "blurry"
    with Image.open(path) as image:
        assert image.size == (24, 16) and image.mode == "RGB"
        assert np.array_equal(np.asarray(image), pixels)


def test_a_non_latin_prompt_survives_as_utf8(tmp_path: Path):
    path = write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8), png_metadata("富士山の夕焼け", 1))
    assert read_png_metadata(path)["prompt"] == "富士山の夕焼け"


def test_settings_the_user_did_not_give_are_left_out_not_guessed():
    assert set(png_metadata("x", 5)) == {"prompt", "Description", "seed", "model", "Software"}


def test_an_unwritable_path_or_a_wrong_shape_is_one_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        write_png(tmp_path / "file" / "x.png", np.zeros((8, 8, 3), np.uint8), png_metadata("x", 1))
    with pytest.raises(UsageError, match="shape"):
        write_png(tmp_path / "x.png", np.zeros((8, 8), np.uint8), png_metadata("x", 1))

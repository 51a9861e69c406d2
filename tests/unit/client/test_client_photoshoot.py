"""``diffusion photoshoot``: local checks before any upload, and the tensors it sends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusion_operator.client.cli import app
from diffusion_operator.client.errors import EXIT_USAGE, UsageError
from diffusion_operator.client.photoshoot import mask_path_for
from diffusion_operator.client.request import PhotoshootRequest
from diffusion_operator.client.triton import _photoshoot_inputs
from typer.testing import CliRunner


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "product.png"
    path.write_bytes(b"\x89PNG not checked locally: the server decodes")
    return path


@pytest.mark.parametrize(
    "extra",
    [
        ["--placement", "diagonal"],
        ["--product-scale", "1.5"],
        ["--upscale", "3"],
        ["--size", "100x100"],
        ["--seed", "-1"],
        [],  # neither --url nor --service
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2_before_anything_is_sent(photo: Path, extra: list[str]):
    url = [] if not extra else ["--url", "127.0.0.1:1"]
    result = CliRunner().invoke(app, ["photoshoot", str(photo), "on a marble table", *url, *extra])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_missing_photo_names_the_file(tmp_path: Path):
    result = CliRunner().invoke(app, ["photoshoot", str(tmp_path / "nope.png"), "x", "--url", "127.0.0.1:1"])
    assert result.exit_code == EXIT_USAGE
    assert "image: cannot read" in result.output


def test_an_empty_prompt_or_photo_is_refused():
    with pytest.raises(UsageError, match="prompt"):
        PhotoshootRequest(image=b"x", prompt=" ").validated()
    with pytest.raises(UsageError, match="image"):
        PhotoshootRequest(image=b"", prompt="x").validated()


def test_the_photo_travels_as_bytes_and_unset_options_stay_out():
    request = PhotoshootRequest(
        image=b"\x00png\x00", prompt="a studio", seed=3, upscale_factor=2, product_scale=0.5, placement="bottom"
    )
    inputs = dict(_photoshoot_inputs(request))
    assert inputs["image"].dtype == object and inputs["image"][0] == b"\x00png\x00"
    assert inputs["prompt"][0] == b"a studio"
    assert inputs["seed"].dtype == np.int64 and inputs["upscale_factor"].dtype == np.int32
    assert inputs["product_scale"].dtype == np.float32 and inputs["placement"][0] == b"bottom"
    assert "steps" not in inputs and "width" not in inputs and "negative_prompt" not in inputs


def test_the_mask_is_written_next_to_the_image():
    assert mask_path_for(Path("out/shot.png")) == Path("out/shot.mask.png")

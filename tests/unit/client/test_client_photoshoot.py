"""``diffusion photoshoot``: local checks before any upload, the tensors it sends, and the HTTP body and
answer the activator's edits use."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from diffusion_operator.client.cli import app
from diffusion_operator.client.errors import EXIT_USAGE, ServerRejectedError, UsageError
from diffusion_operator.client.photoshoot import mask_path_for
from diffusion_operator.client.request import PhotoshootRequest
from diffusion_operator.client.triton import _photoshoot_inputs, http_photoshoot_body, parse_http_photographed
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
    assert "guidance_scale" not in inputs
    guided = dict(_photoshoot_inputs(PhotoshootRequest(image=b"x", prompt="y", guidance_scale=4.5)))
    assert guided["guidance_scale"].dtype == np.float32 and guided["guidance_scale"][0] == 4.5


def test_the_http_body_carries_the_photo_raw_and_an_answer_parses_back():
    """For the activator's own HTTP stack: the photo is a binary tensor (no base64), and Triton's binary
    answer becomes the same ``Photographed`` the CLI gets."""
    body, header_length = http_photoshoot_body(PhotoshootRequest(image=b"\x89PNG-photo", prompt="a studio", seed=9))
    assert header_length is not None and b"\x89PNG-photo" in body[header_length:]
    header = json.loads(body[:header_length])
    assert {entry["name"] for entry in header["inputs"]} == {"image", "prompt", "seed"}
    answer_header = json.dumps({"outputs": [
        {"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 8}},
        {"name": "mask", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}},
        {"name": "seed", "datatype": "INT64", "shape": [1], "parameters": {"binary_data_size": 8}}]}).encode()
    tensors = struct.pack("<I", 4) + b"shot" + struct.pack("<I", 2) + b"mk" + struct.pack("<q", 9)
    shot = parse_http_photographed(answer_header + tensors, len(answer_header), 1.5)
    assert (shot.image_png, shot.mask_png, shot.seed, shot.seconds) == (b"shot", b"mk", 9, 1.5)
    with pytest.raises(ServerRejectedError):
        parse_http_photographed(b"{not json", None, 0.0)


def test_the_mask_is_written_next_to_the_image():
    assert mask_path_for(Path("out/shot.png")) == Path("out/shot.mask.png")

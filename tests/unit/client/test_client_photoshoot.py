"""``diffusion photoshoot``: local checks before any upload, the tensors it sends, and the HTTP body and
answer the activator's edits use."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from diffusion_operator.client.cli import app
from diffusion_operator.client.errors import EXIT_USAGE, ServerRejectedError, UsageError
from diffusion_operator.client.photoshoot import mask_path_for
from diffusion_operator.client.request import PhotoshootRequest
from diffusion_operator.client.triton import _photoshoot_inputs, grpc_photoshoot_request, parse_grpc_photographed
from tritonclient.grpc import service_pb2
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


def test_the_grpc_request_carries_the_photo_raw_and_an_answer_parses_back():
    """For the activator's OpenAI API: the photo is a raw BYTES tensor (length-prefixed, no base64),
    and Triton's answer becomes the same ``Photographed`` the CLI gets."""
    message = service_pb2.ModelInferRequest.FromString(
        grpc_photoshoot_request(PhotoshootRequest(image=b"\x89PNG-photo", prompt="a studio", seed=9)))
    assert message.model_name == "sdxl-photoshoot"
    contents = dict(zip((tensor.name for tensor in message.inputs), message.raw_input_contents, strict=True))
    assert set(contents) == {"image", "prompt", "seed"}
    assert contents["image"] == struct.pack("<I", len(b"\x89PNG-photo")) + b"\x89PNG-photo"
    assert contents["seed"] == struct.pack("<q", 9)
    answer = service_pb2.ModelInferResponse(model_name="sdxl-photoshoot")
    for name, datatype, raw in (("image", "BYTES", struct.pack("<I", 4) + b"shot"),
                                ("mask", "BYTES", struct.pack("<I", 2) + b"mk"),
                                ("seed", "INT64", struct.pack("<q", 9))):
        answer.outputs.add(name=name, datatype=datatype, shape=[1])
        answer.raw_output_contents.append(raw)
    shot = parse_grpc_photographed(answer.SerializeToString(), 1.5)
    assert (shot.image_png, shot.mask_png, shot.seed, shot.seconds) == (b"shot", b"mk", 9, 1.5)
    with pytest.raises(ServerRejectedError):
        parse_grpc_photographed(b"\xff not a protobuf", 0.0)
    with pytest.raises(ServerRejectedError):
        parse_grpc_photographed(service_pb2.ModelInferResponse().SerializeToString(), 0.0)


def test_the_mask_is_written_next_to_the_image():
    assert mask_path_for(Path("out/shot.png")) == Path("out/shot.mask.png")

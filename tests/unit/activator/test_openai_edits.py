"""An edit's form: text values become the same checked job as a generation plus the photoshoot's own
inputs, and every refusal names its field (a missing image or prompt included)."""

from __future__ import annotations

from pathlib import Path

import pytest
from diffusion_operator.activator.openai.edits import Form, to_edit_job
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps

SETTINGS = ApiSettings(keys_dir=Path("/keys"), model_id="sdxl", max_images=4, edits=True,
                       sizes=SizeCaps.parse(None, "256x256-1024x1024", "1024x1024"), max_steps=50)
PHOTO = b"photo bytes"


def edit(fields: dict[str, str], files: dict[str, bytes] | None = None):
    return to_edit_job(Form(fields, {"image": PHOTO} if files is None else files), SETTINGS, lambda highest: 7)


def refusal(fields: dict[str, str], files: dict[str, bytes] | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        edit(fields, files)
    return caught.value


def test_form_text_becomes_the_same_job_as_a_generation_plus_the_photoshoots_inputs():
    made = edit({"prompt": "on a marble table", "n": "2", "size": "512x768", "seed": "40",
                 "num_inference_steps": "20", "guidance_scale": "4.5", "negative_prompt": "blurry", "upscale": "2",
                 "output_format": "jpeg", "product_scale": "0.5", "placement": "bottom", "user": "u-1",
                 "quality": "high", "input_fidelity": "high", "response_format": "b64_json"},
                {"image": PHOTO, "mask": b"mask bytes"})
    job = made.job
    assert (job.prompt, job.width, job.height, job.seeds, job.steps) == ("on a marble table", 512, 768, (40, 41), 20)
    assert (job.guidance_scale, job.negative_prompt, job.upscale, job.output_format) == (4.5, "blurry", 2, "jpeg")
    assert (made.image, made.mask, made.product_scale, made.placement) == (PHOTO, b"mask bytes", 0.5, "bottom")


def test_empty_values_count_as_absent():
    made = edit({"prompt": "x", "n": "", "seed": ""})
    assert made.job.seeds == (7,) and made.mask is None and made.product_scale is None


@pytest.mark.parametrize(("fields", "files", "param", "code"), [
    ({}, None, "prompt", "missing_required_parameter"),
    ({"prompt": "x"}, {}, "image", "missing_required_parameter"),
    ({"prompt": "x"}, {"image": PHOTO, "markup": b"m"}, "markup", "invalid_value"),
    ({"prompt": "x", "n": "two"}, None, "n", "invalid_value"),
    ({"prompt": "x", "n": "5"}, None, "n", "invalid_value"),
    ({"prompt": "x", "size": "100x100"}, None, "size", "invalid_value"),
    ({"prompt": "x", "placement": "floating"}, None, "placement", "invalid_value"),
    ({"prompt": "x", "product_scale": "2"}, None, "product_scale", "invalid_value"),
    ({"prompt": "x", "num_steps": "3"}, None, "num_steps", "unknown_parameter"),
    ({"prompt": "x", "response_format": "url"}, None, "response_format", "invalid_value"),
    ({"prompt": "x", "stream": "true"}, None, "stream", "invalid_value"),
    ({"prompt": "x", "background": "transparent"}, None, "background", "invalid_value"),
])
def test_each_refusal_is_a_400_naming_the_field(fields, files, param, code):
    refused = refusal(fields, files)
    assert (refused.status, refused.param, refused.code) == (400, param, code)


def test_another_model_is_a_404():
    refused = refusal({"prompt": "x", "model": "dall-e-2"})
    assert (refused.status, refused.code) == (404, "model_not_found")

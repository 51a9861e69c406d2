"""The generations body: OpenAI's fields and the open servers' extensions become one checked job, and
every refusal is a 400 (or 404 for another model) that names the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.requests import parse_body, to_job
from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps

SETTINGS = ApiSettings(keys_dir=Path("/keys"), model_id="sdxl", max_images=4,
                       sizes=SizeCaps.parse(None, "256x256-1024x1024", "1024x1024"), max_steps=50)


def job(**body: Any):
    return to_job(parse_body({"prompt": "a red cube", **body}), SETTINGS, draw_seed=lambda highest: 7)


def refusal(raw: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        to_job(parse_body(raw), SETTINGS, draw_seed=lambda highest: 7)
    return caught.value


def test_a_bare_prompt_gets_one_png_at_the_default_size_with_a_drawn_seed():
    made = job()
    assert (made.width, made.height, made.seeds, made.output_format) == (1024, 1024, (7,), "png")
    assert made.steps is None and made.guidance_scale is None and not made.prompt_truncated


def test_n_images_use_consecutive_seeds_from_the_one_given():
    assert job(n=3, seed=41).seeds == (41, 42, 43)


def test_extensions_and_openai_fields_reach_the_job():
    made = job(size="512x768", num_inference_steps=20, guidance_scale=7, negative_prompt="blurry", upscale=2,
               output_format="webp", output_compression=80, model="sdxl", response_format="b64_json",
               quality="high", style="vivid", moderation="low", user="u-1", background="opaque")
    assert (made.width, made.height, made.steps, made.guidance_scale) == (512, 768, 20, 7)
    assert (made.negative_prompt, made.upscale, made.output_format, made.output_compression) == (
        "blurry", 2, "webp", 80)


@pytest.mark.parametrize(("body", "param", "status"), [
    ({"prompt": "x", "n": 5}, "n", 400),
    ({"prompt": "x", "n": 0}, "n", 400),
    ({"prompt": "x", "n": "2"}, "n", 400),
    ({"prompt": "x", "size": "2048x2048"}, "size", 400),
    ({"prompt": "x", "size": "1004x1000"}, "size", 400),
    ({"prompt": "x", "size": "big"}, "size", 400),
    ({"prompt": "x", "num_inference_steps": 51}, "num_inference_steps", 400),
    ({"prompt": "x", "guidance_scale": 31}, "guidance_scale", 400),
    ({"prompt": "x", "upscale": 3}, "upscale", 400),
    ({"prompt": "x", "seed": -1}, "seed", 400),
    ({"prompt": "x", "seed": 2**63 - 1, "n": 2}, "seed", 400),
    ({"prompt": "x", "response_format": "url"}, "response_format", 400),
    ({"prompt": "x", "output_format": "gif"}, "output_format", 400),
    ({"prompt": "x", "background": "transparent"}, "background", 400),
    ({"prompt": "x", "stream": True}, "stream", 400),
    ({"prompt": "x", "partial_images": 2}, "partial_images", 400),
    ({"prompt": "x", "num_steps": 20}, "num_steps", 400),
    ({"prompt": "  "}, "prompt", 400),
    ({}, "prompt", 400),
    ({"prompt": "x", "model": "dall-e-3"}, "model", 404),
])
def test_each_refusal_names_the_field_with_the_right_status(body, param, status):
    error = refusal(body)
    assert (error.status, error.param) == (status, param)
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_unknown_fields_are_refused_with_openais_words():
    error = refusal({"prompt": "x", "num_steps": 20})
    assert error.message == "Unrecognized request argument supplied: num_steps"
    assert error.code == "unknown_parameter"


def test_a_body_that_is_not_an_object_is_refused():
    assert refusal(["a prompt"]).status == 400


def test_url_responses_are_refused_with_the_reason():
    assert "keeps no images" in refusal({"prompt": "x", "response_format": "url"}).message


def test_an_explicit_size_list_admits_only_its_sizes_and_describes_them():
    settings = ApiSettings(keys_dir=Path("/keys"), model_id="sdxl", max_images=1, max_steps=50,
                           sizes=SizeCaps.parse("1024x1024,768x1344", None, "1024x1024"))
    made = to_job(parse_body({"prompt": "x", "size": "768x1344"}), settings, lambda highest: 1)
    assert (made.width, made.height) == (768, 1344)
    with pytest.raises(ApiError, match="one of 768x1344, 1024x1024"):
        to_job(parse_body({"prompt": "x", "size": "1024x768"}), settings, lambda highest: 1)


def test_a_prompt_beyond_clips_77_tokens_is_flagged_as_truncated():
    assert job(prompt="word " * 80).prompt_truncated
    assert job(prompt="a cat", negative_prompt="bad " * 90).prompt_truncated
    assert not job(prompt="a photo of a cat on a red sofa, soft light").prompt_truncated

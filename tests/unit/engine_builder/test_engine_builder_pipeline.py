"""Serving defaults and request validation of the BLS pipeline (pure parts, no Triton)."""

from __future__ import annotations

import numpy as np
import pytest

from engine_builder.pipeline import (
    Defaults,
    Limits,
    RequestError,
    apply_speed_tier,
    defaults_from_env,
    resolve_request,
    to_uint8,
)
from engine_builder.progress import STAGES, percent


def test_built_in_defaults_are_30_steps_guidance_5_euler_and_no_upscale():
    assert defaults_from_env({}) == Defaults(30, 5.0, "euler", 1)


def test_environment_variables_override_the_built_in_defaults():
    env = {"SDXL_DEFAULT_STEPS": "20", "SDXL_DEFAULT_GUIDANCE_SCALE": "7.5",
           "SDXL_DEFAULT_SCHEDULER": "dpmpp_2m", "SDXL_UPSCALE_FACTOR": "2"}
    assert defaults_from_env(env) == Defaults(20, 7.5, "dpmpp_2m", 2)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"SDXL_DEFAULT_STEPS": "many"}, "SDXL_DEFAULT_STEPS"),
        ({"SDXL_DEFAULT_STEPS": "0"}, "SDXL_DEFAULT_steps"),
        ({"SDXL_DEFAULT_SCHEDULER": "lms"}, "SDXL_DEFAULT_scheduler"),
        ({"SDXL_UPSCALE_FACTOR": "3"}, "SDXL_UPSCALE_FACTOR"),
    ],
)
def test_a_bad_environment_value_names_its_variable(env, name):
    with pytest.raises(RequestError, match=name):
        defaults_from_env(env)


def resolve(**raw):
    return resolve_request(raw, Defaults(25, 6.0, "ddim", 1), Limits(default_width=256, default_height=512),
                           random_seed=lambda: 42)


def test_request_inputs_win_over_defaults_and_missing_ones_fall_back():
    request = resolve(prompt="a cat", steps=4, width=64)
    assert (request.steps, request.guidance_scale, request.scheduler) == (4, 6.0, "ddim")
    assert (request.width, request.height, request.seed) == (64, 512, 42)
    assert request.negative_prompt is None


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ({}, "prompt"),
        ({"prompt": "x", "width": 100}, "width"),
        ({"prompt": "x", "height": 4096}, "height"),
        ({"prompt": "x", "steps": 0}, "steps"),
        ({"prompt": "x", "guidance_scale": -1.0}, "guidance_scale"),
        ({"prompt": "x", "scheduler": "heun"}, "scheduler"),
        ({"prompt": "x", "seed": -5}, "seed"),
        ({"prompt": "x", "upscale_factor": 3}, "upscale_factor"),
    ],
)
def test_an_invalid_request_names_the_input(raw, name):
    with pytest.raises(RequestError, match=f"^{name}"):
        resolve(**raw)


def test_vae_output_maps_to_uint8_like_diffusers():
    images = np.array([-1.0, -0.5, 0.0, 1.0, 3.0, -3.0], dtype=np.float32).reshape(1, 3, 1, 2)
    out = to_uint8(images)
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 128, 255]  # -1 -> 0, 0 -> 127.5 rounds to 128, 3 clamps to 255
    assert out[0, 1].tolist() == [64, 255, 0]


def test_progress_percent_walks_the_stages_monotonically_to_100():
    assert sum(share for _, share in STAGES) == 100
    values = [percent(stage, f) for stage, _ in STAGES for f in (0.0, 0.5, 1.0)]
    assert values == sorted(values)
    assert values[0] == 0 and values[-1] == 100


@pytest.mark.parametrize(
    ("raw", "tier", "expected_steps", "degraded"),
    [
        ({"prompt": "a"}, 20, 20, True),  # the tier applies to a request without steps
        ({"prompt": "a", "steps": 30}, 20, 30, False),  # never to one that set its own
        ({"prompt": "a", "steps": 40}, 20, 40, False),
        ({"prompt": "a"}, 0, None, False),  # off
        ({"prompt": "a"}, 30, None, False),  # not below the default: nothing to do
        ({"prompt": "a"}, -3, None, False),  # nonsense from the control model: ignored
    ],
)
def test_the_speed_tier_only_lowers_steps_of_requests_that_did_not_set_them(raw, tier, expected_steps, degraded):
    served, was_degraded = apply_speed_tier(raw, tier, default_steps=30)
    assert served.get("steps") == expected_steps and was_degraded is degraded
    assert served["prompt"] == "a"

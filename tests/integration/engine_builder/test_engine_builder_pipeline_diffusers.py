"""The text-to-image loop on the tiny torch modules, in process, against diffusers' SDXL pipeline.

Same weights, prompt and seed: ``SDXLPipeline`` (what the ``sdxl`` model runs over Triton
components, with the numpy noise and schedulers of engine_builder/sampling) must give diffusers'
``StableDiffusionXLPipeline`` image for every scheduler. The components run torch here, so the only
differences are the schedulers' float32 rounding (torch's MKL square roots are not correctly
rounded): at most 1 uint8 level. test_engine_builder_triton.py checks the same through tritonserver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine_builder import tiny
from engine_builder.components import Dims, component_spec
from engine_builder.export import torch_run, wrap
from engine_builder.pipeline import SCHEDULERS, Request, SDXLPipeline

WIDTH, HEIGHT = 64, 48


@pytest.fixture(scope="module")
def reference() -> Any:
    return tiny.build_tiny_pipeline()


def serving_pipeline(reference: Any, directory: Path) -> SDXLPipeline:
    tiny.write_pipeline_inputs(directory, vae_scaling_factor=tiny.read_manifest()["vae_scaling_factor"],
                               default_size=(WIDTH, HEIGHT))
    dims = Dims(text1_hidden=tiny.TEXT1_HIDDEN, text2_hidden=tiny.TEXT2_HIDDEN, text2_projection=tiny.TEXT2_PROJECTION)
    sources = {"clip": reference.text_encoder, "clip2": reference.text_encoder_2, "unetxl": reference.unet,
               "vae": reference.vae}

    def component(name: str) -> Any:
        module, spec = wrap(name, sources[name]).eval(), component_spec(name, dims)  # type: ignore[arg-type]
        return lambda feeds: torch_run(module, spec, feeds)

    return SDXLPipeline(directory, {name: component(name) for name in sources})


def diffusers_image(reference: Any, scheduler: str, seed: int, **options: Any) -> np.ndarray:
    import diffusers
    import torch

    reference.scheduler = getattr(diffusers, SCHEDULERS[scheduler]).from_config(reference.scheduler.config)
    reference.set_progress_bar_config(disable=True)
    images = reference(generator=torch.Generator().manual_seed(seed), width=WIDTH, height=HEIGHT, output_type="np",
                       **options).images
    return np.asarray((images[0] * 255).round(), dtype=np.uint8)


@pytest.mark.parametrize(("scheduler", "steps"), [("euler", 4), ("euler_a", 4), ("ddim", 4), ("dpmpp_2m", 4),
                                                  ("euler_a", 30), ("dpmpp_2m", 30)])
def test_the_serving_loop_matches_diffusers_sdxl_pipeline(reference, tmp_path, scheduler, steps):
    pipe = serving_pipeline(reference, tmp_path)
    got = pipe(Request("a blue bird", None, 5, steps, 5.0, WIDTH, HEIGHT, scheduler, 1))
    expected = diffusers_image(reference, scheduler, 5, prompt="a blue bird", num_inference_steps=steps,
                               guidance_scale=5.0)
    assert got.shape == expected.shape == (HEIGHT, WIDTH, 3)
    assert expected.std() > 10, "a constant image would make the comparison meaningless"
    diff = np.abs(got.astype(int) - expected.astype(int))
    print(f"{scheduler} {steps} steps: max pixel diff {diff.max()}, pixels differing {(diff > 0).mean():.4f}")
    assert diff.max() <= 1, f"max pixel diff {diff.max()}"


def test_a_negative_prompt_and_no_guidance_follow_diffusers_too(reference, tmp_path):
    pipe = serving_pipeline(reference, tmp_path)
    for guidance, negative in ((5.0, "blurry"), (1.0, None)):
        got = pipe(Request("a house", negative, 8, 3, guidance, WIDTH, HEIGHT, "euler", 1))
        expected = diffusers_image(reference, "euler", 8, prompt="a house", negative_prompt=negative,
                                   num_inference_steps=3, guidance_scale=guidance)
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1

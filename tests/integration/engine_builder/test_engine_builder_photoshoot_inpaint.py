"""The photoshoot's inpainting loop, run on the tiny torch modules, against diffusers' SDXL inpaint pipeline.

Same weights, same canvas and mask, same seed: ``InpaintPipeline`` (what ``sdxl-photoshoot`` runs over
Triton components) must give diffusers' ``StableDiffusionXLInpaintPipeline`` image at ``strength=1.0``.
Both run torch here, so the only differences are float reassociation: at most 1 uint8 level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine_builder import tiny
from engine_builder.components import Dims, component_spec
from engine_builder.export import torch_run, wrap
from engine_builder.inpaint import InpaintPipeline
from engine_builder.pipeline import SCHEDULERS, Request

WIDTH, HEIGHT = 64, 48


@pytest.fixture(scope="module")
def modules() -> dict[str, Any]:
    pipe = tiny.build_tiny_pipeline()
    return {"pipe": pipe, "inpaint_unet": tiny.build_tiny_inpaint_unet()}


def components(modules: dict[str, Any]) -> dict[str, Any]:
    pipe = modules["pipe"]
    dims = Dims(text1_hidden=tiny.TEXT1_HIDDEN, text2_hidden=tiny.TEXT2_HIDDEN, text2_projection=tiny.TEXT2_PROJECTION)
    sources = {
        "clip": pipe.text_encoder,
        "clip2": pipe.text_encoder_2,
        "vae": pipe.vae,
        "vae_encoder": pipe.vae,
        "unetxl_inpaint": modules["inpaint_unet"],
    }

    def component(name: str) -> Any:
        module, spec = wrap(name, sources[name]).eval(), component_spec(name, dims)  # type: ignore[arg-type]
        return lambda feeds: torch_run(module, spec, feeds)

    return {name: component(name) for name in sources}


def pipeline_dir(tmp_path: Path) -> Path:
    # the trained VAE's scaling factor
    return tiny.write_pipeline_inputs(tmp_path, vae_scaling_factor=tiny.read_manifest()["vae_scaling_factor"],
                                      default_size=(WIDTH, HEIGHT))


def canvas_and_mask() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    canvas = np.full((HEIGHT, WIDTH, 3), 127, np.uint8)
    canvas[16:40, 20:44] = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    repaint = np.full((HEIGHT, WIDTH), 255, np.uint8)
    repaint[16:40, 20:44] = 0
    return canvas, repaint


def diffusers_inpaint(
    modules: dict[str, Any], canvas: np.ndarray, repaint: np.ndarray, scheduler: str, **options: Any
) -> np.ndarray:
    import diffusers
    import torch

    pipe = modules["pipe"]
    inpaint = diffusers.StableDiffusionXLInpaintPipeline(
        vae=pipe.vae,
        text_encoder=pipe.text_encoder,
        text_encoder_2=pipe.text_encoder_2,
        tokenizer=pipe.tokenizer,
        tokenizer_2=pipe.tokenizer_2,
        unet=modules["inpaint_unet"],
        scheduler=getattr(diffusers, SCHEDULERS[scheduler]).from_config(pipe.scheduler.config),
        requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )
    inpaint.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(options.pop("seed"))
    images = inpaint(
        image=Image.fromarray(canvas),
        mask_image=Image.fromarray(repaint),
        strength=1.0,
        width=WIDTH,
        height=HEIGHT,
        generator=generator,
        output_type="np",
        **options,
    ).images
    return np.asarray((images[0] * 255).round(), dtype=np.uint8)


@pytest.mark.parametrize("scheduler", ["euler", "euler_a"])
def test_the_inpainting_loop_matches_diffusers_sdxl_inpaint_pipeline(modules, tmp_path, scheduler):
    canvas, repaint = canvas_and_mask()
    pipe = InpaintPipeline(pipeline_dir(tmp_path), components(modules))
    request = Request(
        prompt="on a marble table",
        negative_prompt=None,
        seed=7,
        steps=3,
        guidance_scale=5.0,
        width=WIDTH,
        height=HEIGHT,
        scheduler=scheduler,
        upscale_factor=1,
    )
    got = pipe(request, canvas, repaint)
    expected = diffusers_inpaint(
        modules,
        canvas,
        repaint,
        scheduler,
        prompt="on a marble table",
        seed=7,
        num_inference_steps=3,
        guidance_scale=5.0,
    )
    assert got.shape == expected.shape == (HEIGHT, WIDTH, 3)
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= 1, f"max pixel diff {diff.max()}"


def test_a_negative_prompt_and_no_guidance_follow_diffusers_too(modules, tmp_path):
    canvas, repaint = canvas_and_mask()
    pipe = InpaintPipeline(pipeline_dir(tmp_path), components(modules))
    for guidance, negative in ((5.0, "blurry"), (1.0, None)):
        request = Request(
            prompt="a studio",
            negative_prompt=negative,
            seed=2,
            steps=2,
            guidance_scale=guidance,
            width=WIDTH,
            height=HEIGHT,
            scheduler="euler",
            upscale_factor=1,
        )
        expected = diffusers_inpaint(
            modules,
            canvas,
            repaint,
            "euler",
            prompt="a studio",
            negative_prompt=negative,
            seed=2,
            num_inference_steps=2,
            guidance_scale=guidance,
        )
        assert np.abs(pipe(request, canvas, repaint).astype(int) - expected.astype(int)).max() <= 1

"""The shipped weights of builtin://tiny-sdxl: they load offline, stay small, and draw what is asked.

A few seconds: one held-out prompt at 64 px through diffusers' reference pipeline, judged by the
pixel checker. The same prompt through the random-weight variant must fail, so the test would catch
a build that silently fell back to random weights (or a checker that passes anything).

The shipped weights (manifest ``evaluation``) draw 52 % of held-out singles, short of the 90 % goal; this
prompt and seed are one they draw, which a random-weight fallback or a broken text path would not.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from engine_builder import tiny
from engine_builder.scenes import checker, vocabulary

torch = pytest.importorskip("torch", reason="the tiny model runs in torch (the builder extra installs torch)")
# After the skip: the training package imports torch at its top (where the extra is absent, the module skips).
from engine_builder.training.evaluate import GUIDANCE  # noqa: E402

#: A held-out prompt (its colour, shape and background never appeared together in training).
PROMPT = "a large red circle on a white background"
STEPS = 10
MAX_SHIPPED_BYTES = 25 * 1024 * 1024


def generate(pipe, prompt: str, seed: int = 0):
    pipe.set_progress_bar_config(disable=True)
    image = pipe(prompt, num_inference_steps=STEPS, guidance_scale=GUIDANCE, height=64, width=64,
                 generator=torch.Generator().manual_seed(seed), output_type="pil").images[0]
    assert isinstance(image, Image.Image)
    return image


def test_the_test_prompt_is_held_out():
    assert vocabulary.is_held_out(vocabulary.parse_prompt(PROMPT))


def test_the_shipped_weights_are_small_and_described_by_their_manifest():
    files = [tiny.WEIGHTS_DIR / f"{name}.safetensors" for name in tiny.WEIGHT_FILES]
    assert sum(path.stat().st_size for path in files) <= MAX_SHIPPED_BYTES
    manifest = json.loads((tiny.WEIGHTS_DIR / tiny.MANIFEST).read_text())
    assert manifest["tiny_version"] == tiny.TINY_VERSION
    assert {"command", "seed", "data", "versions", "evaluation"} <= set(manifest)
    assert manifest["evaluation"]["steps"] == 30


def test_the_trained_weights_are_the_ones_loaded_not_the_random_start():
    trained, random = tiny.build_tiny_pipeline(trained=True), tiny.build_tiny_pipeline(trained=False)
    assert trained.vae.config.scaling_factor == tiny.read_manifest()["vae_scaling_factor"]
    first = next(iter(trained.unet.state_dict().values()))
    assert not torch.equal(first, next(iter(random.unet.state_dict().values())))


def test_the_trained_model_draws_a_held_out_prompt_and_the_random_one_does_not():
    trained = checker.verdict(PROMPT, generate(tiny.build_tiny_pipeline(trained=True), PROMPT))
    assert trained.objects_match and trained.checks["background"], trained.checks
    random = checker.verdict(PROMPT, generate(tiny.build_tiny_pipeline(trained=False), PROMPT))
    assert not random.objects_match, random.checks

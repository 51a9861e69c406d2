"""Held-out evaluation of the shipped weights through diffusers' reference pipelines, scored by the checker.

Text-to-image: ``StableDiffusionXLPipeline`` from the materialized ``builtin://tiny-sdxl`` directory,
30 Euler steps, guidance 5 (the serving defaults), 64x64, one fixed seed per prompt. Prompts: the first
``count`` of a seeded shuffle of the *held-out* singles and pairs (:func:`held_out_prompts`).
Segmentation: IoU at the 0.5 threshold on product photos rendered from a seed the training never used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine_builder import tiny
from engine_builder.scenes import checker, vocabulary
from engine_builder.scenes.render import render_product
from engine_builder.segmentation import trained_segmenter_module
from engine_builder.training.stages import Log

EVAL_SEED = 1234
STEPS = 30
GUIDANCE = 5.0


def held_out_prompts(count: int, seed: int = EVAL_SEED) -> tuple[list[str], list[str]]:
    """(singles, pairs): ``count`` held-out prompts of each kind, in a fixed order."""
    rng = np.random.default_rng(seed)
    out = []
    for scenes in (vocabulary.single_scenes(), vocabulary.pair_scenes()):
        held = vocabulary.split(scenes, held_out=True)
        order = rng.permutation(len(held))[:count]
        out.append([held[int(i)].prompt for i in order])
    return out[0], out[1]


def generate(pipe: Any, prompts: list[str], seeds: list[int], steps: int = STEPS) -> list[NDArray[np.uint8]]:
    import torch

    images = []
    for prompt, seed in zip(prompts, seeds, strict=True):
        result = pipe(prompt, num_inference_steps=steps, guidance_scale=GUIDANCE, height=vocabulary.IMAGE_SIZE,
                      width=vocabulary.IMAGE_SIZE, generator=torch.Generator().manual_seed(seed), output_type="np")
        images.append((result.images[0] * 255).round().astype(np.uint8))
    return images


def segmentation_iou(count: int, weights: Path) -> float:
    import torch

    model = trained_segmenter_module()
    model.load_state_dict(tiny.load_weights("segmenter", weights))
    rng = np.random.default_rng(EVAL_SEED)
    ious = []
    for _ in range(count):
        photo = render_product(rng)
        pixels = torch.from_numpy(photo.image).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            predicted = model(pixels)[0, 0].numpy() >= 0.5
        truth = photo.masks[0]
        ious.append((predicted & truth).sum() / max(1, (predicted | truth).sum()))
    return float(np.mean(ious))


def evaluate_weights(weights: Path, *, count: int, log: Log) -> dict[str, Any]:
    """Scores of the weights in ``weights`` (which must be the shipped directory's layout)."""
    singles, pairs = held_out_prompts(count)
    pipe = tiny.build_tiny_pipeline(trained=True, weights=weights)
    pipe.set_progress_bar_config(disable=True)
    single_verdicts = [checker.verdict(p, image) for p, image in
                       zip(singles, generate(pipe, singles, list(range(len(singles)))), strict=True)]
    pair_verdicts = [checker.verdict(p, image) for p, image in
                     zip(pairs, generate(pipe, pairs, list(range(len(pairs)))), strict=True)]
    scores = {
        "steps": STEPS, "guidance_scale": GUIDANCE, "size": vocabulary.IMAGE_SIZE, "seeds": "0..count-1 per kind",
        "held_out_singles": len(singles), "held_out_pairs": len(pairs),
        "single_colour_and_shape": float(np.mean([v.objects_match for v in single_verdicts])),
        "single_all_checks": float(np.mean([v.passed for v in single_verdicts])),
        "pair_objects_and_relation": float(np.mean([v.objects_match and v.checks["relation"] for v in pair_verdicts])),
        "pair_all_checks": float(np.mean([v.passed for v in pair_verdicts])),
        "segmentation_iou": segmentation_iou(4 * count, weights),
    }
    log(f"evaluation: {scores}")
    return scores

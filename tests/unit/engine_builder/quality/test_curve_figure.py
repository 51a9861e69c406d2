"""The step-curve figure: its scores and layout (the images themselves come from the reference pipeline)."""

from __future__ import annotations

import numpy as np

from engine_builder.quality.curve_figure import STEP_COUNTS, score_row, sheet
from engine_builder.quality.prompts import DEFAULT_PROMPTS


def noisy(seed: int, amount: float) -> np.ndarray:
    base = np.full((64, 64, 3), 120, np.uint8)
    noise = np.random.default_rng(seed).normal(0, amount, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_every_column_is_scored_against_the_configured_steps_image():
    images = [noisy(0, 0)] + [noisy(column, 10.0 * column) for column in range(1, len(STEP_COUNTS))]
    scores = score_row(images)
    assert scores[0] == {"ssim": 1.0, "psnrDb": 100.0}
    assert [s["psnrDb"] for s in scores] == sorted((s["psnrDb"] for s in scores), reverse=True)  # more noise, lower


def test_the_sheet_has_a_row_per_prompt_and_a_column_per_step_count():
    images = [noisy(column, 5.0) for column in range(len(STEP_COUNTS))]
    page = sheet([DEFAULT_PROMPTS[0].prompt] * 2, [images, images], [score_row(images)] * 2)
    assert page.size[0] > len(STEP_COUNTS) * 128 and page.size[1] > 2 * 128

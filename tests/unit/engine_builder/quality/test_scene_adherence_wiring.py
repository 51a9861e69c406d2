"""The build scores the built-in models' prompt adherence with the scene checker, and only theirs."""

from __future__ import annotations

import numpy as np
import pytest

from engine_builder.errors import QualityGateUnavailableError
from engine_builder.gating import adherence_scorer
from engine_builder.plan import BuildPlan
from engine_builder.quality.prompts import DEFAULT_PROMPTS
from engine_builder.scenes.render import render_scene
from engine_builder.scenes.vocabulary import parse_prompt


def plan(source: str) -> BuildPlan:
    return BuildPlan.model_validate({"source": source})


def test_the_built_in_models_are_scored_by_the_scene_checker_and_hub_models_are_not():
    assert adherence_scorer(plan("builtin://tiny-sdxl")).name == "scene_checker"
    assert adherence_scorer(plan("builtin://tiny-sdxl-random")).name == "scene_checker"
    assert adherence_scorer(plan("hf://stabilityai/stable-diffusion-xl-base-1.0")) is None


def test_every_default_prompt_drawn_as_asked_scores_100_and_noise_scores_low():
    scorer = adherence_scorer(plan("builtin://tiny-sdxl"))
    rng = np.random.default_rng(0)
    for case in DEFAULT_PROMPTS:
        image = render_scene(parse_prompt(case.prompt), np.random.default_rng(case.seed)).image
        assert scorer.score(case.prompt, np.asarray(image, np.uint8)) == 100.0, case.prompt
        noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        assert scorer.score(case.prompt, noise) < 50.0, case.prompt


def test_a_prompt_outside_the_grammar_makes_the_gate_unavailable_naming_it():
    scorer = adherence_scorer(plan("builtin://tiny-sdxl"))
    with pytest.raises(QualityGateUnavailableError, match="a lighthouse at dusk"):
        scorer.score("a lighthouse at dusk", np.zeros((64, 64, 3), np.uint8))

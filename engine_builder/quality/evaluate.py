"""One evaluation: render the prompt set on both sides, score every image, judge, and report.

The reference is rendered once at the configured steps; the candidate at the configured steps (the
gate) and, for the curve, at each fewer step count, always against that same full-step reference:
the curve shows what a user loses when the speed tier serves fewer steps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine_builder.quality.adherence import AdherenceScorer
from engine_builder.quality.metrics import finite, psnr, ssim
from engine_builder.quality.render import Renderer
from engine_builder.quality.verdict import ImageScore, Scores, gate_failures, lowest_passing_steps, step_failures
from engine_builder.quality_settings import PromptCase, QualityGateSettings


@dataclass(frozen=True)
class References:
    """The reference images at the configured steps, and their adherence scores (None: no scorer)."""

    cases: tuple[PromptCase, ...]
    images: tuple[NDArray[Any], ...]
    adherence: tuple[float | None, ...]


def render_references(render: Renderer, cases: Sequence[PromptCase], steps: int,
                      scorer: AdherenceScorer | None) -> References:
    images = tuple(render(case, steps) for case in cases)
    adherence = tuple(_adherence(scorer, case, image) for case, image in zip(cases, images, strict=True))
    return References(tuple(cases), images, adherence)


def _adherence(scorer: AdherenceScorer | None, case: PromptCase, image: NDArray[Any]) -> float | None:
    if scorer is None or not finite(image):
        return None if scorer is None else 0.0
    return scorer.score(case.prompt, np.asarray(image, np.uint8))


def score_images(candidates: Sequence[NDArray[Any]], references: References, steps: int,
                 scorer: AdherenceScorer | None) -> Scores:
    """Per image: PSNR and SSIM to the reference, finiteness, and adherence on both sides."""
    images = []
    for case, got, want, want_adherence in zip(references.cases, candidates, references.images,
                                                 references.adherence, strict=True):
        ok = finite(got) and finite(want)
        images.append(ImageScore(
            prompt=case.prompt, seed=case.seed,
            psnr_db=psnr(got, want) if ok else 0.0, ssim=ssim(got, want) if ok else 0.0, finite=ok,
            adherence=_adherence(scorer, case, got), reference_adherence=want_adherence,
        ))
    return Scores(steps, tuple(images), scorer.name if scorer else None)


def score_candidate(render: Renderer, references: References, steps: int, scorer: AdherenceScorer | None) -> Scores:
    return score_images([render(case, steps) for case in references.cases], references, steps, scorer)


@dataclass(frozen=True)
class CurvePoint:
    steps: int
    scores: Scores
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Evaluation:
    """What the gate decided and why: the build's manifest, termination message and status carry it."""

    scores: Scores
    failures: list[str]
    curve: list[CurvePoint] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def lowest_passing_steps(self) -> int | None:
        return lowest_passing_steps({p.steps: p.passed for p in self.curve}) if self.curve else None


def judge(render: Renderer, references: References, settings: QualityGateSettings,
          scorer: AdherenceScorer | None) -> tuple[Scores, list[str]]:
    scores = score_candidate(render, references, settings.steps, scorer)
    return scores, gate_failures(scores, settings)


def step_curve(render: Renderer, references: References, settings: QualityGateSettings,
               scorer: AdherenceScorer | None, gate_scores: Scores | None = None) -> list[CurvePoint]:
    """Each step count of ``settings.step_counts`` (and the configured steps) against the full-step reference."""
    points = []
    for steps in sorted({settings.steps, *settings.step_counts}, reverse=True):
        scores = gate_scores if gate_scores is not None and steps == settings.steps else \
            score_candidate(render, references, steps, scorer)
        points.append(CurvePoint(steps, scores, step_failures(scores, settings)))
    return points


def evaluate(render: Renderer, references: References, settings: QualityGateSettings,
             scorer: AdherenceScorer | None, clock: Any = time.monotonic) -> Evaluation:
    """Gate at the configured steps, then the curve (scored even when the gate fails: it shows why)."""
    started = clock()
    scores, failures = judge(render, references, settings, scorer)
    curve = step_curve(render, references, settings, scorer, scores)
    return Evaluation(scores, failures, curve, round(clock() - started, 3))

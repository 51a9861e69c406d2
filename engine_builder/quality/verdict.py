"""From scores to a decision, pure: which thresholds a candidate misses, the step curve, the best attempt.

Every failure is a sentence naming the score, its value and the ``spec.engine.qualityGate`` field it
missed (the operator puts the first ones into ``EngineReady``'s message). Agreement is judged on the
worst image, not the mean: one prompt that an int8 engine ruins is a failed engine. Prompt adherence is
judged as a drop against the reference's own score on the same prompts and latents, as MLPerf does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine_builder.quality_settings import QualityGateSettings


@dataclass(frozen=True)
class ImageScore:
    prompt: str
    seed: int
    psnr_db: float
    ssim: float
    finite: bool
    adherence: float | None = None
    reference_adherence: float | None = None


@dataclass(frozen=True)
class Scores:
    """One candidate rendered at ``steps``, scored image by image against the reference."""

    steps: int
    images: tuple[ImageScore, ...]
    #: ``clip_score`` or ``scene_checker``; None when no adherence scorer was given.
    adherence_metric: str | None = None

    @property
    def worst_psnr_db(self) -> float:
        return min(i.psnr_db for i in self.images)

    @property
    def worst_ssim(self) -> float:
        return min(i.ssim for i in self.images)

    @property
    def finite(self) -> bool:
        return all(i.finite for i in self.images)

    @property
    def adherence(self) -> float | None:
        values = [i.adherence for i in self.images if i.adherence is not None]
        return sum(values) / len(values) if values else None

    @property
    def reference_adherence(self) -> float | None:
        values = [i.reference_adherence for i in self.images if i.reference_adherence is not None]
        return sum(values) / len(values) if values else None


def _worst(scores: Scores, key: str) -> ImageScore:
    return min(scores.images, key=lambda i: float(getattr(i, key)))


def adherence_failure(scores: Scores, settings: QualityGateSettings) -> str | None:
    """The adherence drop against the reference, if it is beyond the metric's window."""
    got, reference = scores.adherence, scores.reference_adherence
    if got is None or reference is None:
        return None
    if scores.adherence_metric == "clip_score":
        drop = 100.0 * (reference - got) / reference if reference > 0 else 0.0
        if drop > settings.max_clip_drop_percent:
            return (f"clip_score {got:.3f} is {drop:.2f} % below the reference's {reference:.3f} "
                    f"(maxClipDropPercent {settings.max_clip_drop_percent})")
        return None
    drop = reference - got
    if drop > settings.max_adherence_drop_points:
        return (f"{scores.adherence_metric} {got:.1f} is {drop:.1f} points below the reference's {reference:.1f} "
                f"(maxAdherenceDropPoints {settings.max_adherence_drop_points})")
    return None


def gate_failures(scores: Scores, settings: QualityGateSettings) -> list[str]:
    """Why ``scores`` (the engine at the configured steps) fail the gate; empty: it passes."""
    if not scores.images:
        return ["no image was scored"]
    failures = []
    broken = [i for i in scores.images if not i.finite]
    if broken:
        failures.append(f"NaN or Inf in the image for {broken[0].prompt!r} (seed {broken[0].seed}); "
                        f"{len(broken)} of {len(scores.images)} images are not finite")
    worst = _worst(scores, "ssim")
    if worst.ssim < settings.min_ssim:
        failures.append(f"ssim {worst.ssim:.3f} < minSsim {settings.min_ssim} for {worst.prompt!r} (seed {worst.seed})")
    worst = _worst(scores, "psnr_db")
    if worst.psnr_db < settings.min_psnr_db:
        failures.append(f"psnr {worst.psnr_db:.2f} dB < minPsnrDb {settings.min_psnr_db} for {worst.prompt!r} "
                        f"(seed {worst.seed})")
    drop = adherence_failure(scores, settings)
    if drop:
        failures.append(drop)
    return failures


def step_failures(scores: Scores, settings: QualityGateSettings) -> list[str]:
    """Why fewer steps fail: images against the full-step reference, judged by ``minStepsSsim``."""
    failures = []
    if not scores.finite:
        failures.append("NaN or Inf in an image")
    if scores.images and scores.worst_ssim < settings.min_steps_ssim:
        failures.append(f"ssim {scores.worst_ssim:.3f} < minStepsSsim {settings.min_steps_ssim}")
    drop = adherence_failure(scores, settings)
    if drop:
        failures.append(drop)
    return failures


def lowest_passing_steps(passed_by_steps: dict[int, bool]) -> int | None:
    """The fewest steps such that it and every larger count scored pass (None: not even the most).

    Monotone on purpose: a count that passes below one that fails is luck on this prompt set, and
    the speed tier must not be sent below a failing count.
    """
    lowest = None
    for steps in sorted(passed_by_steps, reverse=True):
        if not passed_by_steps[steps]:
            break
        lowest = steps
    return lowest


def best_attempt(attempts: Sequence[tuple[Scores, list[str]]]) -> int | None:
    """Index of the best attempt that passes (highest worst-SSIM, then worst-PSNR); None if none passes."""
    passing = [i for i, (_, failures) in enumerate(attempts) if not failures]
    if not passing:
        return None
    return max(passing, key=lambda i: (attempts[i][0].worst_ssim, attempts[i][0].worst_psnr_db))

"""The gate's result as one small JSON object: the termination message's ``quality`` and status's.

Keys are camelCase because the operator copies the object into ``status.engine.quality`` as it is.
The termination message holds at most 4096 bytes, so the object is kept under :data:`BUDGET` bytes:
prompts are shortened, and dropped to a count if a large custom set would still not fit (the
manifest keeps the full report).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from engine_builder.quality.evaluate import Evaluation
from engine_builder.quality.verdict import Scores
from engine_builder.quality_settings import PromptCase, QualityGateSettings

Verdict = Literal["Passed", "Failed", "Unavailable", "Disabled"]
#: Leaves ~1.5 kB of the 4096-byte termination message for the rest of the summary.
BUDGET = 2500
PROMPT_CHARS = 60


def thresholds(settings: QualityGateSettings) -> dict[str, float]:
    return {"minPsnrDb": settings.min_psnr_db, "minSsim": settings.min_ssim,
            "maxClipDropPercent": settings.max_clip_drop_percent,
            "maxAdherenceDropPoints": settings.max_adherence_drop_points, "minStepsSsim": settings.min_steps_ssim}


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def score_fields(scores: Scores) -> dict[str, Any]:
    fields: dict[str, Any] = {"psnrDb": _r(scores.worst_psnr_db, 2), "ssim": _r(scores.worst_ssim, 4),
                              "finite": scores.finite}
    if scores.adherence is not None:
        fields["adherence"] = _r(scores.adherence)
    return fields


def quality_report(evaluation: Evaluation, settings: QualityGateSettings, cases: tuple[PromptCase, ...],
                   *, attempts: int = 1, full: bool = False) -> dict[str, Any]:
    """The scored report; ``full`` keeps whole prompts and per-image scores (for the manifest)."""
    scores = evaluation.scores
    report: dict[str, Any] = {
        "verdict": "Passed" if evaluation.passed else "Failed",
        "message": "; ".join(evaluation.failures) if evaluation.failures else "every score within its threshold",
        "steps": settings.steps,
        "scores": score_fields(scores),
        "referenceScores": ({"adherence": _r(scores.reference_adherence)}
                            if scores.reference_adherence is not None else {}),
        "thresholds": thresholds(settings),
        "prompts": [c.prompt if full else c.prompt[:PROMPT_CHARS] for c in cases],
        "curve": [{"steps": p.steps, **score_fields(p.scores), "passed": p.passed} for p in evaluation.curve],
        "lowestPassingSteps": evaluation.lowest_passing_steps,
        "seconds": evaluation.seconds,
        "attempts": attempts,
    }
    if scores.adherence_metric:
        report["adherenceMetric"] = scores.adherence_metric
    if full:
        report["images"] = [vars(i) for i in scores.images]
        return report
    if len(json.dumps(report)) > BUDGET:
        report["prompts"] = [f"{len(cases)} prompts (see the engine's manifest.json)"]
        report["message"] = report["message"][:500]
    return report


def unavailable_report(cause: str, settings: QualityGateSettings) -> dict[str, Any]:
    return {"verdict": "Unavailable", "message": cause[:1000], "steps": settings.steps,
            "thresholds": thresholds(settings)}


def disabled_report() -> dict[str, Any]:
    return {"verdict": "Disabled", "message": "spec.engine.qualityGate.enabled is false: nothing was scored"}

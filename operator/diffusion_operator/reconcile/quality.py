"""The quality gate in the status: the build's scores, its verdict on EngineReady, and the speed tier's floor.

Pure. The build Job reports the gate in its termination message (``quality``, and ``error`` when it
refused to publish); this module turns that into ``status.engine.quality``, the EngineReady verdict
of a refused build (``QualityGateFailed`` naming the score and threshold, ``QualityGateUnavailable``
with the cause), and the ``StepsQuality`` condition: an ``autoscaling.overload.minSteps`` below the
lowest step count that passed is reported, not silently served. Clamping the tier to that floor is
the speed tier's decision (triton/speed_tier.py), not this module's.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from diffusion_operator.api.conditions import ConditionStatus, Reason
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.api.status_quality import QualityStatus
from diffusion_operator.reconcile.observation import JobState

#: The builder's ``error`` kinds for a refused publish (engine_builder/errors.py) -> EngineReady reasons.
GATE_ERRORS = {"QualityGateFailed": Reason.QUALITY_GATE_FAILED,
               "QualityGateUnavailable": Reason.QUALITY_GATE_UNAVAILABLE}

Verdict = tuple[ConditionStatus, str, str]


def quality_from_summary(summary: dict[str, Any]) -> QualityStatus | None:
    """``status.engine.quality`` from the builder's summary; a malformed one is dropped, never fatal."""
    raw = summary.get("quality")
    if not isinstance(raw, dict):
        return None
    try:
        return QualityStatus.model_validate(raw)
    except ValidationError:
        return None


def refused_build(job: JobState) -> Verdict | None:
    """EngineReady for a build the gate refused to publish; None for every other outcome."""
    reason = GATE_ERRORS.get(str(job.summary.get("error")))
    if job.phase != "Failed" or reason is None:
        return None
    detail = str(job.summary.get("message") or reason)
    return "False", reason, f"Job {job.name}: {detail}; nothing was published, the previous engine keeps serving"


def published_note(quality: QualityStatus | None) -> str:
    """What EngineReady's message adds about the gate of a published build."""
    if quality is None:
        return ""
    if quality.verdict == "Unavailable":
        return f"; quality gate unavailable (onUnavailable: Publish): {quality.message}"
    if quality.verdict == "Disabled":
        return "; quality gate disabled"
    if quality.scores is not None:
        return f"; quality gate passed (worst ssim {quality.scores.ssim}, psnr {quality.scores.psnr_db} dB)"
    return ""


def steps_quality(spec: DiffusionServiceSpec, quality: QualityStatus | None) -> Verdict:
    """``StepsQuality``: is the speed tier's ``minSteps`` at or above the lowest step count that passed?"""
    overload = spec.autoscaling.overload
    if not overload.enabled:
        return "True", Reason.SPEED_TIER_DISABLED, "the overload speed tier is off: every request gets its steps"
    if quality is None or not quality.curve:
        return "Unknown", Reason.NO_QUALITY_CURVE, "no step curve was scored for this engine yet"
    floor = quality.lowest_passing_steps
    if floor is None:
        return ("False", Reason.MIN_STEPS_BELOW_QUALITY_FLOOR,
                f"autoscaling.overload.minSteps {overload.min_steps}: no step count scored passed the quality gate "
                f"(not even {quality.curve[0].steps}); the speed tier would serve images that fail it")
    if overload.min_steps < floor:
        return ("False", Reason.MIN_STEPS_BELOW_QUALITY_FLOOR,
                f"autoscaling.overload.minSteps {overload.min_steps} is below {floor}, the lowest step count "
                f"that passes the quality gate (minStepsSsim "
                f"{quality.thresholds.min_steps_ssim if quality.thresholds else '?'}); raise minSteps to {floor}")
    return ("True", Reason.MIN_STEPS_ABOVE_QUALITY_FLOOR,
            f"autoscaling.overload.minSteps {overload.min_steps} is at or above {floor}, the lowest passing step count")

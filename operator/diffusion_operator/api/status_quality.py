"""``status.engine.quality``: the build's quality gate as the build Job reported it.

The builder's termination message carries the object (engine_builder/quality/report.py) with these
camelCase keys; the operator copies it, so a person reads the scores, the reference's scores, the
thresholds, the prompts and the step curve on the service itself (and the operator's metric).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from diffusion_operator.api.base import StatusModel

QualityVerdict = Literal["Passed", "Failed", "Unavailable", "Disabled"]


class QualityScores(StatusModel):
    psnr_db: float | None = Field(default=None, description="Worst image's PSNR to the reference (dB).")
    ssim: float | None = Field(default=None, description="Worst image's SSIM to the reference.")
    finite: bool | None = Field(default=None, description="False when an image had NaN or Inf.")
    adherence: float | None = Field(default=None, description="Mean prompt adherence (CLIP score or scene checker).")


class QualityCurvePoint(QualityScores):
    steps: int = Field(ge=1, le=150, description="Denoising steps scored against the full-step reference.")
    passed: bool = Field(description="Whether this step count met minStepsSsim and the adherence window.")


class QualityThresholds(StatusModel):
    min_psnr_db: float | None = Field(default=None, description="spec.engine.qualityGate.minPsnrDb applied.")
    min_ssim: float | None = Field(default=None, description="minSsim applied.")
    max_clip_drop_percent: float | None = Field(default=None, description="maxClipDropPercent applied.")
    max_adherence_drop_points: float | None = Field(default=None, description="maxAdherenceDropPoints applied.")
    min_steps_ssim: float | None = Field(default=None, description="minStepsSsim applied.")


class QualityStatus(StatusModel):
    """The quality gate's result for the engine build of ``status.engine.cacheKey``."""

    verdict: QualityVerdict = Field(description="Passed, Failed, Unavailable or Disabled.")
    message: str = Field(default="", max_length=1024, description="Why: the failed thresholds or the cause.")
    steps: int | None = Field(default=None, ge=1, le=150, description="Configured steps the gate scored at.")
    adherence_metric: str | None = Field(default=None, max_length=32, description="clip_score or scene_checker.")
    scores: QualityScores | None = Field(default=None, description="The built engine's scores.")
    reference_scores: QualityScores | None = Field(default=None, description="The fp32 reference's own scores.")
    thresholds: QualityThresholds | None = Field(default=None, description="The thresholds applied.")
    prompts: list[str] = Field(default_factory=list, max_length=16, description="The prompts scored.")
    curve: list[QualityCurvePoint] = Field(
        default_factory=list, max_length=8, description="Scores per step count, from the configured steps down."
    )
    lowest_passing_steps: int | None = Field(
        default=None, ge=1, le=150,
        description="Fewest steps that (with every larger count scored) passed: the speed tier's quality floor.",
    )
    seconds: float | None = Field(default=None, ge=0, description="Wall time of the evaluation.")
    attempts: int | None = Field(default=None, ge=1, description="8-bit calibration attempts scored.")

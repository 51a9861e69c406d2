"""The quality gate's settings as the build plan carries them.

Pydantic only: the plan (and so the operator) imports this module, which is why it sits next to plan.py,
below the quality package.

They never change what is built, so the plan leaves them out of its cache key: a gate that failed
published nothing, and the next build of the same key runs the gate again with the new settings.
Defaults and their reasons live in the operator's ``spec.engine.qualityGate`` (api/spec_quality.py),
which writes every field; the defaults here are the same numbers for plans written by hand.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: At most this many prompts: the gate runs in every build and must stay a few seconds on CPU.
MAX_PROMPTS = 16
MAX_PROMPT_CHARS = 300
MAX_STEP_COUNTS = 8
#: MLPerf SDXL's accepted CLIP window is +-0.2 % of the reference's score (FACTS.md, mlcommons/inference).
MLPERF_CLIP_WINDOW_PERCENT = 0.2
OnUnavailable = Literal["Block", "Publish"]


class PromptCase(BaseModel):
    """One fixed prompt: its seed fixes the initial latents (``torch.randn`` from a CPU generator)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    seed: int = Field(ge=0, le=2**63 - 1)


class QualityGateSettings(BaseModel):
    """Thresholds and inputs of the gate; scores below a ``min_*`` or a drop above a ``max_*`` fail it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    on_unavailable: OnUnavailable = "Block"
    #: Worst single image's PSNR (dB) and SSIM against the fp32 reference at the configured steps.
    min_psnr_db: float = Field(default=30.0, ge=0, le=100)
    min_ssim: float = Field(default=0.95, ge=0, le=1)
    #: Mean CLIP score may fall at most this many percent below the reference's (only with a CLIP source).
    max_clip_drop_percent: float = Field(default=MLPERF_CLIP_WINDOW_PERCENT, ge=0, le=100)
    #: The scene checker's share of satisfied attributes may fall at most this many points (built-in model).
    max_adherence_drop_points: float = Field(default=10.0, ge=0, le=100)
    #: The step curve: a step count passes when its worst image's SSIM to the full-step reference is this high.
    min_steps_ssim: float = Field(default=0.80, ge=0, le=1)
    clip_source: str | None = Field(default=None, max_length=1024)
    #: None: the built-in prompt set (prompts.py). Kept raw here and parsed by the gate, so an empty or
    #: malformed set is the gate's QualityGateUnavailableError (with the cause), not a rejected plan.
    prompts: tuple[dict[str, Any], ...] | None = None
    steps: int = Field(default=30, ge=1, le=150)
    guidance_scale: float = Field(default=5.0, ge=0, le=30)
    scheduler: str = "euler"
    #: Square size of the gate's images; None: 64 px on the CPU, the smallest planned resolution on TensorRT.
    image_size: int | None = Field(default=None, ge=64, le=1536, multiple_of=8)
    #: Step counts of the quality-cost curve (the configured steps are always scored first).
    step_counts: tuple[int, ...] = Field(default=(), max_length=MAX_STEP_COUNTS)
    #: 8-bit builds: calibrate up to this many times (different calibration seeds), keep the best that passes.
    calibration_attempts: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _step_counts_in_range(self) -> QualityGateSettings:
        bad = [s for s in self.step_counts if not 1 <= s <= 150]
        if bad:
            raise ValueError(f"step_counts: {bad} outside 1..150")
        return self


def curve_step_counts(steps: int, floor: int | None) -> tuple[int, ...]:
    """The step counts the curve scores: the configured ones, down to the speed tier's floor and below.

    Four even points from ``steps`` to ``floor``, then half the floor and a quarter (the cost of going
    below it), deduplicated and descending; at most 6 counts so the curve stays cheap.
    """
    floor = max(1, min(floor if floor is not None else max(1, steps // 2), steps))
    between = [round(steps - (steps - floor) * k / 3) for k in range(4)]
    counts = {steps, *between, max(1, floor // 2), max(1, floor // 4)}
    return tuple(sorted(counts, reverse=True))[:6]

"""``spec.autoscaling.predictive`` and ``spec.autoscaling.overload``: the autoscaler's two ways past reaction.

Kept apart from ``spec_autoscaling`` (the HPA-shaped core) because both are about what a reactive
scaler cannot do: order replicas before a forecast rise (predictive), or serve faster while replicas
are still starting (overload). The decisions live in ``autoscaling.predictive`` and
``autoscaling.speed_tier``; the numbers behind the defaults in ``bench/results/autoscaler.md``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import ApiModel
from diffusion_operator.api.durations import GO_DURATION_PATTERN, Duration, parse_duration

MIN_SEASON, MAX_SEASON = "1h", "168h"
_SEASON_RANGE = f"season must be a duration from {MIN_SEASON} to {MAX_SEASON} (a week), like 24h"


class PredictiveSpec(ApiModel):
    """A floor from the service's own arrival history: seasonal Holt-Winters, trusted only while accurate."""

    enabled: bool = Field(
        default=True,
        description=(
            "Raise the replica floor to what the forecast arrivals over the next cold start need (reason "
            "PredictiveFloor). It never lowers the count; a forecast with under 1.25 seasons of history, a "
            "recent large miss or a wild value is ignored and the decision's message says so."
        ),
    )
    season: Duration = Field(
        default="24h",
        description="The period the arrival pattern repeats with (a day for most services); 1h to 168h.",
        json_schema_extra=cel.validations(cel.rule(
            f"!self.matches(r'{GO_DURATION_PATTERN}') || (duration(self) >= duration('{MIN_SEASON}')"
            f" && duration(self) <= duration('{MAX_SEASON}'))",
            _SEASON_RANGE,
        )),
    )

    @field_validator("season")
    @classmethod
    def _season_in_range(cls, value: str) -> str:
        season = parse_duration(value)
        if not parse_duration(MIN_SEASON) <= season <= parse_duration(MAX_SEASON):
            raise ValueError(_SEASON_RANGE)
        return value

    @property
    def season_s(self) -> float:
        return parse_duration(self.season) / timedelta(seconds=1)


class OverloadSpec(ApiModel):
    """The speed tier: fewer denoising steps while the queue would breach the SLA before new pods serve."""

    enabled: bool = Field(
        default=False,
        description=(
            "Opt in to the speed tier: when the queue will breach queueLatencyTarget before starting replicas "
            "are Ready, requests that did not set steps are served with minSteps (the response says so in its "
            "degraded output), until capacity arrives. Off whenever metrics cannot be read."
        ),
    )
    min_steps: int = Field(
        default=20,
        ge=1,
        le=150,
        description="Fewest denoising steps the tier may serve; must be below pipeline.steps (e.g. 30 -> 20).",
    )

"""``DiffusionService.status`` and the pure functions that summarise it (phase, printer texts).

Status models ignore unknown fields when parsing, so an older operator can read what a newer one
wrote; the CRD still prunes them. ``ready`` and ``queue`` exist only because printer columns take a
single JSONPath and cannot print ``x/y``: the operator writes them from the numbers next to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field

from diffusion_operator.api.base import StatusModel
from diffusion_operator.api.conditions import Condition, ConditionType, Reason, find_condition
from diffusion_operator.api.durations import Duration, format_duration
from diffusion_operator.api.status_quality import QualityStatus

Phase = Literal["Pending", "Building", "Deploying", "Ready", "Degraded", "Failed"]
EngineState = Literal["Pending", "Building", "Succeeded", "Failed"]

#: One entry per decision (every 15 s) over the longest window (3600 s max) fits with room to spare.
MAX_HISTORY_ENTRIES = 512
#: The predictive floor's season is cut into this many buckets (``autoscaling.forecast`` imports it):
#: 30 min each for a day, 75 s for the benchmark's compressed day; fine enough to see a morning ramp,
#: and 48 numbers in status. It lives here because the status schema's list limit is this number and
#: the API is the bottom layer.
FORECAST_BUCKETS = 48
#: Pods whose cold start is kept (``autoscaling.cold_start`` imports it; the schema's list limit).
COLD_START_SAMPLES = 8

#: EngineReady reasons after which nothing will change until the user edits the spec or a Secret.
TERMINAL_ENGINE_REASONS = frozenset({Reason.BUILD_FAILED, Reason.BUILD_TIMED_OUT, Reason.SECRET_NOT_FOUND,
                                     Reason.QUALITY_GATE_FAILED, Reason.QUALITY_GATE_UNAVAILABLE,
                                     Reason.BUILD_WONT_FIT, Reason.BUILD_OOM_KILLED})


class EngineStatus(StatusModel):
    """The engine build for the current spec, as the build Job reported it."""

    cache_key: str | None = Field(default=None, max_length=64, description="Cache key the spec asks for.")
    serving_cache_key: str | None = Field(
        default=None,
        max_length=64,
        description="Cache key the Triton pods mount now; differs from cacheKey while a new build runs.",
    )
    job_name: str | None = Field(default=None, max_length=63, description="Build Job for cacheKey.")
    state: EngineState | None = Field(default=None, description="Pending, Building, Succeeded or Failed.")
    started_at: datetime | None = Field(default=None, description="When the build Job started.")
    completed_at: datetime | None = Field(default=None, description="When the build Job finished.")
    tensorrt_version: str | None = Field(default=None, max_length=64, description="TensorRT version built with.")
    compute_capability: str | None = Field(
        default=None, max_length=8, description="GPU compute capability the engines target, e.g. 8.9."
    )
    message: str | None = Field(
        default=None, max_length=4096, description="The builder's summary or failure message."
    )
    quality: QualityStatus | None = Field(
        default=None, description="The quality gate's scores, thresholds, prompts and step curve for this build."
    )


class Endpoints(StatusModel):
    """In-cluster addresses of the Triton Service."""

    http: str | None = Field(default=None, max_length=512, description="HTTP/REST endpoint (port 8000).")
    grpc: str | None = Field(default=None, max_length=512, description="gRPC endpoint (port 8001).")
    metrics: str | None = Field(default=None, max_length=512, description="Prometheus metrics URL (port 8002).")


class ForecastMemory(StatusModel):
    """The predictive floor's Holt-Winters state (``autoscaling.forecast.ForecastState.to_dict()``).

    Fixed size whatever the season: one number per bucket of the season's shape plus a few scalars.
    """

    season_s: float = Field(gt=0, description="Season length in seconds the state was learned for.")
    bucket: int = Field(ge=0, description="Index of the bucket being filled (epoch seconds // bucket length).")
    total: float = Field(default=0.0, description="Sum of this bucket's arrival-rate samples.")
    samples: int = Field(default=0, ge=0, description="Samples in this bucket.")
    level: float = Field(default=0.0, description="Smoothed arrival rate (requests/s).")
    trend: float = Field(default=0.0, description="Smoothed change of the level per bucket.")
    seasonal: list[float] = Field(
        default_factory=list, max_length=FORECAST_BUCKETS, description="The season's shape, one value per bucket."
    )
    seen: int = Field(default=0, ge=0, description="Buckets learned so far.")
    error: float | None = Field(default=None, description="Worst recent one-bucket miss, relative to the peak.")


class AutoscalerMemory(StatusModel):
    """The autoscaler's history (``autoscaling.history.History.to_dict()``), kept on the object.

    Times are seconds since the epoch, pairs are ``[time, value]``: compact, and exactly what the
    decision reads back after a restart. The schema must match it field for field, or the API server
    prunes what it does not know.
    """

    recommendations: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_ENTRIES,
        description="[time, replicas] recommendations inside the longest stabilization window.",
    )
    scale_events: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_ENTRIES,
        description="[time, change] replica changes inside the longest rate-limit period.",
    )
    last_scale_time: float | None = Field(default=None, description="Epoch seconds of the last change.")
    consecutive_failures: int = Field(default=0, ge=0, description="Metric reads failed in a row.")
    idle_since: float | None = Field(default=None, description="Epoch seconds since no request arrived.")
    forecast: ForecastMemory | None = Field(default=None, description="The predictive floor's forecast state.")
    speed_tier_since: float | None = Field(
        default=None, description="Epoch seconds since the overload speed tier is on (unset: full steps)."
    )


class PodStartSample(StatusModel):
    pod: str = Field(max_length=253, description="Triton pod measured.")
    seconds: float = Field(ge=0, description="Its creation to Ready, in seconds.")


class ColdStartStatus(StatusModel):
    """This service's own cold start (``autoscaling.cold_start``): pod created -> Ready."""

    seconds: float | None = Field(
        default=None, ge=0,
        description="The estimate the autoscaler uses (75th percentile of the samples); unset until measured.",
    )
    samples: list[PodStartSample] = Field(
        default_factory=list, max_length=COLD_START_SAMPLES, description="The latest pods measured, oldest first."
    )


class AutoscalingStatus(StatusModel):
    """What the autoscaler saw and did last."""

    observed_queue_latency: Duration | None = Field(
        default=None, description="Queue latency the last decision was based on (Go duration)."
    )
    last_scale_time: datetime | None = Field(default=None, description="When replicas last changed.")
    last_decision_reason: str | None = Field(
        default=None, max_length=256, description="Why the last decision was made."
    )
    history: AutoscalerMemory | None = Field(
        default=None, description="The autoscaler's memory of recent decisions (survives restarts)."
    )
    cold_start: ColdStartStatus | None = Field(
        default=None, description="Measured pod created -> Ready, used for the forecast horizon and the speed tier."
    )


class RollbackStatus(StatusModel):
    """A rollout the operator undid because its new pods could not run while the old ones served.

    It holds for the spec generation it names: any spec edit tries again.
    """

    generation: int = Field(ge=0, description="metadata.generation whose rollout was undone.")
    from_revision: int = Field(ge=0, description="Deployment revision that failed.")
    to_revision: int = Field(ge=0, description="Deployment revision restored.")
    cache_key: str | None = Field(default=None, max_length=64, description="Engine cache key restored.")
    message: str = Field(default="", max_length=1024, description="What the failed revision's pods showed.")
    time: datetime = Field(description="When the rollout was undone.")


class DiffusionServiceStatus(StatusModel):
    """Observed state, written by the operator only."""

    phase: Phase | None = Field(default=None, description="Pending, Building, Deploying, Ready, Degraded or Failed.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description=("Ready, EngineReady, Available, Progressing, ScalingActive, ScalingLimited, Fallback, Degraded, "
                     "SpeedTier."),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(default=None, ge=0, description="Last metadata.generation acted on.")
    replicas: int | None = Field(default=None, ge=0, description="All Triton pods (the /scale status replicas).")
    ready_replicas: int | None = Field(default=None, ge=0, description="Triton pods that are ready.")
    desired_replicas: int | None = Field(default=None, ge=0, description="Replicas the owner of the count asked for.")
    selector: str | None = Field(
        default=None, max_length=1024, description="Label selector of the Triton pods (the /scale selector)."
    )
    ready: str | None = Field(default=None, max_length=32, description="readyReplicas/desiredReplicas, for display.")
    queue: str | None = Field(
        default=None, max_length=64, description="Observed queue latency vs target, for display."
    )
    engine: EngineStatus | None = Field(default=None, description="The engine build.")
    endpoints: Endpoints | None = Field(default=None, description="Where to send requests.")
    autoscaling: AutoscalingStatus | None = Field(default=None, description="Autoscaler observations.")
    rollback: RollbackStatus | None = Field(
        default=None, description="The last rollout undone because its pods could not run."
    )


def ready_text(ready_replicas: int, desired_replicas: int) -> str:
    """``2/3``: what the Ready printer column shows."""
    return f"{ready_replicas}/{desired_replicas}"


def queue_text(observed: timedelta | None, target: timedelta | None) -> str | None:
    """``120ms/500ms`` (``-`` where unknown); None when there is no target to compare with."""
    if target is None:
        return None
    shown = format_duration(observed) if observed is not None else "-"
    return f"{shown}/{format_duration(target)}"


def derive_phase(conditions: Sequence[Condition]) -> Phase:
    """The one-word summary of the conditions, in order of what matters most to a user.

    Ready beats everything (an old engine serving while a new one builds is Ready); a terminal engine
    failure with nothing serving is Failed; serving with a problem is Degraded.
    """
    ready = find_condition(conditions, ConditionType.READY)
    engine = find_condition(conditions, ConditionType.ENGINE_READY)
    available = find_condition(conditions, ConditionType.AVAILABLE)
    degraded = find_condition(conditions, ConditionType.DEGRADED)
    serving = available is not None and available.status == "True"
    if degraded is not None and degraded.status == "True":
        return "Degraded"
    if ready is not None and ready.status == "True":
        return "Ready"
    if engine is not None and engine.status == "False" and engine.reason in TERMINAL_ENGINE_REASONS:
        return "Degraded" if serving else "Failed"
    if engine is not None and engine.status == "True":
        return "Deploying"
    if engine is not None and engine.reason in (Reason.BUILDING, Reason.BUILD_PENDING, Reason.BUILD_RETRIED):
        return "Building"
    return "Pending"

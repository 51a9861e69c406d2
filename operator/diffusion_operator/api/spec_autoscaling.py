"""``spec.autoscaling``: scale on the time requests wait in Triton's queue.

The behaviour blocks mirror the HPA's ``behavior`` (stabilization window plus Pods/Percent policies
per period, the most permissive policy wins) because that is what the autoscaler implements and what
people already know. The defaults here are the autoscaler's (``autoscaling.policy`` derives its
own from them), tuned on the autoscaler's simulator in ``bench/autoscaler``; the reasons are noted
next to each field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import ApiModel
from diffusion_operator.api.durations import GO_DURATION_PATTERN, Duration, parse_duration
from diffusion_operator.api.spec_prediction import OverloadSpec, PredictiveSpec


class ScalingPolicy(ApiModel):
    """At most ``value`` pods, or ``value`` percent of the current fleet, per ``periodSeconds``."""

    type: Literal["Pods", "Percent"] = Field(description="Pods: an absolute count; Percent: of current replicas.")
    value: int = Field(ge=1, le=1000, description="How many pods (or percent) may change per period.")
    period_seconds: int = Field(ge=1, le=1800, description="Length of the period in seconds.")


#: The burst memory's longest setting: its per-minute peaks (240 at 4h) plus a full 3600 s stabilization
#: window of 15 s decisions (240) stay below the status history's 512 entries.
MAX_BURST_MEMORY = "4h"
_BURST_MEMORY_TOO_LONG = f"burstMemory must be at most {MAX_BURST_MEMORY}, like 90m, 2h or 0s (off)"
_POLICIES_DOC = "Rate limits; the most permissive one applies (the HPA's selectPolicy Max)."


class ScaleUpBehaviour(ApiModel):
    """How fast replicas are added. SDXL replicas take ~90 s to start, so react at once by default."""

    # Scale up fast: an SDXL replica takes ~90 s to come up, so hesitation costs a cold start's worth of
    # queueing. Unlike the HPA default (4 pods or 100 % per 15 s) a 10x burst is met in one step.

    stabilization_window_seconds: int = Field(
        default=0, ge=0, le=3600, description="Scale up only to the lowest recommendation of this window."
    )
    policies: list[ScalingPolicy] = Field(
        default_factory=lambda: [
            ScalingPolicy(type="Pods", value=8, period_seconds=15),
            ScalingPolicy(type="Percent", value=900, period_seconds=15),
        ],
        min_length=1,
        max_length=4,
        description=_POLICIES_DOC,
        json_schema_extra={
            "default": [
                {"type": "Pods", "value": 8, "periodSeconds": 15},
                {"type": "Percent", "value": 900, "periodSeconds": 15},
            ],
            "x-kubernetes-list-type": "atomic",
        },
    )


class ScaleDownBehaviour(ApiModel):
    """How fast replicas are removed: patiently, since a removed GPU pod is slow to come back."""

    # Scale down after 2 min, at most half the fleet per minute. The HPA waits 300 s because its ratio
    # of a lagging queue-time average cannot tell "the queue drained" from "the load left"; the capacity
    # estimate can, and every idle L4 minute is paid for. Tuned on bench/autoscaler: 180 s moved SLA
    # attainment by -0.6..+0.2 pp for 1-6 % more GPU-hours; 60 s saved 2-7 % but lost 0.25 pp on the
    # diurnal. Burst memory, tuned there on 4x spikes one per ~20 min: 90 min held every spike after
    # the second (misses -71 %, GPU-hours +36 %); 60 min missed 1226 requests, 45 min 1606.

    stabilization_window_seconds: int = Field(
        default=120, ge=0, le=3600, description="Scale down only to the highest recommendation of this window."
    )
    policies: list[ScalingPolicy] = Field(
        default_factory=lambda: [
            ScalingPolicy(type="Percent", value=50, period_seconds=60),
            ScalingPolicy(type="Pods", value=1, period_seconds=60),
        ],
        min_length=1,
        max_length=4,
        description=_POLICIES_DOC,
        json_schema_extra={
            "default": [
                {"type": "Percent", "value": 50, "periodSeconds": 60},
                {"type": "Pods", "value": 1, "periodSeconds": 60},
            ],
            "x-kubernetes-list-type": "atomic",
        },
    )
    burst_memory: Duration = Field(
        default="90m",
        description=(
            "How long recurring bursts are remembered. After two bursts within this time, scale-down stops "
            "at what the latest burst needed (reason HoldingForBursts) until three average gaps between "
            "bursts pass without one: capacity that stays costs GPU-hours but serves the next burst's first "
            "requests, which a reactive scaler cannot (a cold start). 0s turns it off. At most 4h: the "
            "remembered minutes live in status."
        ),
        json_schema_extra=cel.validations(cel.rule(
            f"!self.matches(r'{GO_DURATION_PATTERN}') || duration(self) <= duration('{MAX_BURST_MEMORY}')",
            _BURST_MEMORY_TOO_LONG,
        )),
    )

    @field_validator("burst_memory")
    @classmethod
    def _burst_memory_fits_status(cls, value: str) -> str:
        if parse_duration(value) > parse_duration(MAX_BURST_MEMORY):
            raise ValueError(_BURST_MEMORY_TOO_LONG)
        return value


class PrometheusSpec(ApiModel):
    """Where the autoscaler reads Triton's queue metrics."""

    url: str = Field(
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Prometheus base URL, e.g. http://prometheus-operated.monitoring:9090.",
    )


class FallbackSpec(ApiModel):
    """What to do when Prometheus cannot be read (KEDA's ``fallback``): never guess downwards."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.mode) || self.mode != 'Fixed' || has(self.replicas)",
                "replicas is required when mode is Fixed",
                field_path=".replicas",
                reason="FieldValueRequired",
            ),
        )
    )

    failure_threshold: int = Field(
        default=3, ge=1, le=100, description="Failed metric reads in a row before the Fallback condition is set."
    )
    mode: Literal["Hold", "Fixed"] = Field(
        default="Hold",
        description="Hold keeps the current replicas; Fixed raises them to `replicas` (never lowers them).",
    )
    replicas: int | None = Field(default=None, ge=1, le=1000, description="Replicas for mode Fixed.")


class ActivationSpec(ApiModel):
    """How a service scaled to zero wakes up: Triton exports nothing while no pod runs, so the signal
    comes from what sits in front of it: the operator's activator (its held-request count, the default)
    or, with ``query``, a gateway or queue of the user's."""

    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description=(
            "PromQL returning the number of requests waiting for this service in front of Triton. Unset: the "
            "requests the operator's activator holds for this service."
        ),
    )
    pending_threshold: float = Field(
        default=0.0, ge=0, description="Wake when the query returns more than this many pending requests."
    )
    scale_to_zero_after: Duration = Field(
        default="10m",
        description="Scale to zero after this long with no request arriving.",
        json_schema_extra=cel.validations(cel.positive_duration("scaleToZeroAfter")),
    )

    @field_validator("scale_to_zero_after")
    @classmethod
    def _positive_idle_time(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError("scaleToZeroAfter must be a duration above zero")
        return value


class AutoscalingSpec(ApiModel):
    """Scale on the time requests wait in Triton's queue, against an SLA target."""

    # The has() guards matter: the API server also checks these rules against the schema's default
    # ({}), before any nested default is filled in.
    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.maxReplicas) || !has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                "minReplicas must be less than or equal to maxReplicas",
                field_path=".minReplicas",
                reason="FieldValueInvalid",
            ),
            cel.rule(
                "!has(self.enabled) || !self.enabled || has(self.maxReplicas)",
                "maxReplicas is required when autoscaling is enabled",
                field_path=".maxReplicas",
                reason="FieldValueRequired",
            ),
            cel.rule(
                "!has(self.enabled) || !self.enabled || has(self.queueLatencyTarget)",
                "queueLatencyTarget is required when autoscaling is enabled",
                field_path=".queueLatencyTarget",
                reason="FieldValueRequired",
            ),
        )
    )

    enabled: bool = Field(default=False, description="Let the operator own the replica count.")
    min_replicas: int = Field(default=1, ge=0, le=1000, description="Fewest replicas; 0 allows scale to zero.")
    max_replicas: int | None = Field(
        default=None, ge=1, le=1000, description="Most replicas; required when enabled."
    )
    queue_latency_target: Duration | None = Field(
        default=None,
        description="SLA on the time a request waits in Triton's queue (e.g. 500ms); required when enabled.",
        json_schema_extra=cel.validations(cel.positive_duration("queueLatencyTarget")),
    )
    prometheus: PrometheusSpec | None = Field(
        default=None, description="Prometheus to read from; unset means the operator's configured default."
    )
    scale_up: ScaleUpBehaviour = Field(
        default_factory=ScaleUpBehaviour,
        description="Scale-up behaviour.",
        json_schema_extra={"default": {}},
    )
    scale_down: ScaleDownBehaviour = Field(
        default_factory=ScaleDownBehaviour,
        description="Scale-down behaviour.",
        json_schema_extra={"default": {}},
    )
    fallback: FallbackSpec = Field(
        default_factory=FallbackSpec,
        description="What to do while Prometheus cannot be read.",
        json_schema_extra={"default": {}},
    )
    activation: ActivationSpec | None = Field(
        default=None, description=(
            "Scale to zero and back (minReplicas 0). Optional: with minReplicas 0 the operator puts its activator "
            "in front of Triton and wakes on the requests it holds; set this to tune the threshold, the idle time "
            "or to wake on another query."
        )
    )
    predictive: PredictiveSpec = Field(
        default_factory=PredictiveSpec,
        description="A replica floor forecast from the service's own arrival history (on by default).",
        json_schema_extra={"default": {}},
    )
    overload: OverloadSpec = Field(
        default_factory=OverloadSpec,
        description="Serve with fewer steps while new capacity is still starting (off by default).",
        json_schema_extra={"default": {}},
    )

    @property
    def queue_latency_target_s(self) -> float:
        """``queueLatencyTarget`` in seconds, parsed here only (0 when unset, i.e. autoscaling is off)."""
        return parse_duration(self.queue_latency_target).total_seconds() if self.queue_latency_target else 0.0

    def prometheus_url(self, default: str) -> str:
        """The Prometheus this service's signals come from: its own, else the operator's ``default``."""
        return self.prometheus.url if self.prometheus is not None else default

    @model_validator(mode="after")
    def _mirror_cel(self) -> AutoscalingSpec:
        if self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be less than or equal to maxReplicas")
        if self.enabled and self.max_replicas is None:
            raise ValueError("maxReplicas is required when autoscaling is enabled")
        if self.enabled and self.queue_latency_target is None:
            raise ValueError("queueLatencyTarget is required when autoscaling is enabled")
        if self.fallback.mode == "Fixed" and self.fallback.replicas is None:
            raise ValueError("fallback.replicas is required when fallback.mode is Fixed")
        if self.queue_latency_target is not None and parse_duration(self.queue_latency_target) <= timedelta(0):
            raise ValueError("queueLatencyTarget must be a duration above zero")
        return self

"""Map ``spec.autoscaling`` (the API model) onto the decision's ScalingPolicy.

The API mirrors the HPA's ``behavior`` blocks; this is the only place that knows both shapes, so the
kopf timer does not translate field by field. Settings the CRD does not expose (fallback, scale-to-zero
timing, the queueing model's knobs, the burst detector's thresholds) keep the policy's defaults.
"""

from __future__ import annotations

from typing import TypedDict

from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.spec_autoscaling import AutoscalingSpec
from diffusion_operator.autoscaling.policy import FallbackMode, ScalingPolicy, direction_rules
from diffusion_operator.autoscaling.speed_tier import SpeedTierPolicy, tier_min_steps


class _Activation(TypedDict, total=False):
    activation_pending_requests: float
    scale_to_zero_after_s: float


def policy_from_spec(spec: AutoscalingSpec, *, expected_service_time_s: float | None = None,
                     pipeline_steps: int | None = None, cold_start_s: float | None = None,
                     quality_floor_steps: int | None = None) -> ScalingPolicy:
    """The policy for an enabled ``spec.autoscaling``.

    ``expected_service_time_s`` comes from the engine plan, ``pipeline_steps`` from ``spec.pipeline.steps``
    (the speed tier needs it; without it the tier stays off), ``cold_start_s`` from the measured cold
    start in status (``autoscaling.cold_start``; None keeps the policy's default), and
    ``quality_floor_steps`` from the serving engine's step curve (``status.engine.quality``'s
    ``lowestPassingSteps``): the tier never serves fewer steps than pass the quality gate.
    """
    speed_tier = None
    tier_steps = tier_min_steps(spec.overload.min_steps, quality_floor_steps)
    if spec.overload.enabled and pipeline_steps is not None and tier_steps < pipeline_steps:
        speed_tier = SpeedTierPolicy(tier_steps, pipeline_steps)
    extra = {} if cold_start_s is None else {"cold_start_s": cold_start_s}
    if spec.max_replicas is None or spec.queue_latency_target is None:
        raise ValueError("autoscaling needs maxReplicas and queueLatencyTarget")
    return ScalingPolicy(
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        queue_latency_target_s=spec.queue_latency_target_s,
        scale_up=direction_rules(spec.scale_up),
        scale_down=direction_rules(spec.scale_down),
        expected_service_time_s=expected_service_time_s,
        failure_threshold=spec.fallback.failure_threshold,
        fallback=FallbackMode(spec.fallback.mode),
        fallback_replicas=spec.fallback.replicas,
        burst_memory_s=parse_duration(spec.scale_down.burst_memory).total_seconds(),
        forecast_season_s=spec.predictive.season_s if spec.predictive.enabled else None,
        speed_tier=speed_tier,
        **extra,
        **_activation(spec),
    )


def _activation(spec: AutoscalingSpec) -> _Activation:
    if spec.activation is None:
        return {}
    return {
        "activation_pending_requests": spec.activation.pending_threshold,
        "scale_to_zero_after_s": parse_duration(spec.activation.scale_to_zero_after).total_seconds(),
    }

"""spec.autoscaling maps onto the decision's policy, and the API's defaults are the policy's defaults."""

from __future__ import annotations

import pytest
from diffusion_operator.api.spec_autoscaling import AutoscalingSpec
from diffusion_operator.autoscaling.from_spec import policy_from_spec
from diffusion_operator.autoscaling.policy import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, RateLimit, ScalingPolicy
from diffusion_operator.autoscaling.speed_tier import SpeedTierPolicy


def test_the_api_defaults_are_the_tuned_policy_defaults() -> None:
    spec = AutoscalingSpec.model_validate({"enabled": True, "maxReplicas": 8, "queueLatencyTarget": "500ms"})
    policy = policy_from_spec(spec, expected_service_time_s=9.0)
    assert policy.scale_up == DEFAULT_SCALE_UP
    assert policy.scale_down == DEFAULT_SCALE_DOWN
    assert (policy.min_replicas, policy.max_replicas, policy.queue_latency_target_s) == (1, 8, 0.5)
    assert policy.expected_service_time_s == 9.0
    assert policy.burst_memory_s == ScalingPolicy(min_replicas=1, max_replicas=8,
                                                  queue_latency_target_s=0.5).burst_memory_s == 5400.0


def test_custom_behaviour_is_carried_over() -> None:
    spec = AutoscalingSpec.model_validate({
        "enabled": True, "minReplicas": 0, "maxReplicas": 20, "queueLatencyTarget": "10s",
        "activation": {"query": "sum(gateway_pending)", "pendingThreshold": 2, "scaleToZeroAfter": "15m"},
        "fallback": {"failureThreshold": 5, "mode": "Fixed", "replicas": 6},
        "scaleDown": {"stabilizationWindowSeconds": 300,
                      "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}]},
    })
    policy = policy_from_spec(spec)
    assert policy.allows_zero
    assert (policy.activation_pending_requests, policy.scale_to_zero_after_s) == (2.0, 900.0)
    assert (policy.failure_threshold, policy.fallback.value, policy.fallback_replicas) == (5, "Fixed", 6)
    assert policy.scale_down.stabilization_window_s == 300.0
    assert policy.scale_down.limits == (RateLimit(30.0, pods=2),)


@pytest.mark.parametrize(("memory", "seconds"), [("0s", 0.0), ("2h", 7200.0), ("4h", 14400.0)])
def test_the_burst_memory_is_carried_over_and_0s_turns_it_off(memory: str, seconds: float) -> None:
    spec = AutoscalingSpec.model_validate({"enabled": True, "maxReplicas": 8, "queueLatencyTarget": "10s",
                                           "scaleDown": {"burstMemory": memory}})
    assert policy_from_spec(spec).burst_memory_s == seconds


def test_a_burst_memory_longer_than_the_status_can_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="burstMemory must be at most 4h"):
        AutoscalingSpec.model_validate({"scaleDown": {"burstMemory": "4h1m"}})


def test_a_disabled_spec_without_targets_is_rejected() -> None:
    with pytest.raises(ValueError):
        policy_from_spec(AutoscalingSpec())


def test_the_predictive_floor_and_speed_tier_map_onto_the_policy() -> None:
    base = {"enabled": True, "maxReplicas": 4, "queueLatencyTarget": "10s"}
    default = policy_from_spec(AutoscalingSpec.model_validate(base), pipeline_steps=30)
    assert default.forecast_season_s == 86400.0 and default.speed_tier is None
    tiered = policy_from_spec(AutoscalingSpec.model_validate(
        {**base, "predictive": {"enabled": False}, "overload": {"enabled": True, "minSteps": 18}}),
        pipeline_steps=30, cold_start_s=42.0)
    assert tiered.forecast_season_s is None
    assert tiered.speed_tier == SpeedTierPolicy(18, 30)
    assert tiered.cold_start_s == 42.0


@pytest.mark.parametrize(("floor", "expected"), [(None, SpeedTierPolicy(18, 30)), (12, SpeedTierPolicy(18, 30)),
                                                 (24, SpeedTierPolicy(24, 30)), (30, None)])
def test_the_quality_floor_raises_the_tiers_steps_and_at_full_steps_turns_it_off(
        floor: int | None, expected: SpeedTierPolicy | None) -> None:
    spec = AutoscalingSpec.model_validate({"enabled": True, "maxReplicas": 4, "queueLatencyTarget": "10s",
                                           "overload": {"enabled": True, "minSteps": 18}})
    assert policy_from_spec(spec, pipeline_steps=30, quality_floor_steps=floor).speed_tier == expected

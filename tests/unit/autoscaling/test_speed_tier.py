"""The speed tier: on when the queue will breach the SLA before new pods serve, off otherwise."""

from __future__ import annotations

from dataclasses import replace

import pytest
from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.autoscaling import History, MetricsFailure, Observation, ScalingPolicy, decide
from diffusion_operator.autoscaling.speed_tier import (
    SpeedTierPolicy,
    decide_tier,
    full_steps_service_time,
    seconds_until_ready,
)

TIER = SpeedTierPolicy(min_steps=20, default_steps=30)
POLICY = ScalingPolicy(min_replicas=1, max_replicas=64, queue_latency_target_s=10.0, expected_service_time_s=9.0,
                       speed_tier=TIER)
NOW = 1_000_000.0


def seen(ready: int, current: int | None = None, **signals: float | None) -> Observation:
    base: dict[str, float | None] = {"queue_latency_s": 1.0, "pending_requests": 0.0, "arrival_rate": 0.5,
                                     "service_time_s": 9.0}
    return Observation(current_replicas=ready if current is None else current, ready_replicas=ready,
                       **{**base, **signals})


def tier(observation: Observation, *, was_active: bool = False, until_ready_s: float = 90.0,
         policy: SpeedTierPolicy | None = TIER):  # type: ignore[no-untyped-def]
    return decide_tier(observation, policy, service_time_s=9.0, target_s=10.0, until_ready_s=until_ready_s,
                       was_active=was_active)


@pytest.mark.parametrize(
    ("observation", "was_active", "until_ready_s", "expected"),
    [
        (seen(10, arrival_rate=0.5), False, 90.0, None),  # the fleet keeps up: full steps
        (seen(10, arrival_rate=5.0), False, 90.0, 20),  # 10x the load, 90 s before new pods: fewer steps
        (seen(10, arrival_rate=5.0), False, 0.0, None),  # new capacity serves now and nothing is queued
        (seen(10, pending_requests=30.0), False, 0.0, 20),  # a backlog already past the target
        (seen(10, pending_requests=5.0), True, 0.0, None),  # 4.5 s, under half the target: full steps again
        (seen(10, pending_requests=8.0), False, 0.0, None),  # 7.2 s: under the target, not on yet
        (seen(10, pending_requests=9.0, arrival_rate=0.5), True, 0.0, 20),  # 8.1 s > 5 s: stays on
    ],
)
def test_the_tier_turns_on_before_a_breach_and_off_with_hysteresis(observation: Observation, was_active: bool,
                                                                  until_ready_s: float,
                                                                  expected: int | None) -> None:
    assert tier(observation, was_active=was_active, until_ready_s=until_ready_s).steps == expected


def test_the_tier_is_never_below_its_floor() -> None:
    assert tier(seen(1, pending_requests=10_000.0, arrival_rate=100.0)).steps == TIER.min_steps


def test_off_by_default_and_off_when_metrics_fail() -> None:
    assert tier(seen(10, arrival_rate=5.0), policy=None).reason == Reason.SPEED_TIER_DISABLED
    failed = Observation.failed(MetricsFailure.UNREACHABLE, "down", current_replicas=10, ready_replicas=10)
    off = tier(failed, was_active=True)
    assert (off.steps, off.reason) == (None, Reason.METRICS_UNAVAILABLE)


def test_the_decision_carries_the_tier_and_its_condition() -> None:
    decision = decide(seen(10, arrival_rate=5.0, pending_requests=40.0), POLICY, History(), NOW)
    assert decision.speed_tier_steps == 20
    [hint] = [c for c in decision.conditions if c.type == ConditionType.SPEED_TIER]
    assert (hint.status, hint.reason) == (True, Reason.QUEUE_WILL_BREACH_SLA)
    assert decision.history.speed_tier_since == NOW
    later = decide(seen(10, arrival_rate=5.0, pending_requests=40.0), POLICY, decision.history, NOW + 15)
    assert later.history.speed_tier_since == NOW  # the start is kept while it stays on


def test_a_failed_read_turns_the_tier_off() -> None:
    on = decide(seen(10, arrival_rate=5.0, pending_requests=40.0), POLICY, History(), NOW)
    failed = Observation.failed(MetricsFailure.TIMEOUT, "slow", current_replicas=10, ready_replicas=10)
    off = decide(failed, POLICY, on.history, NOW + 15)
    assert off.speed_tier_steps is None and off.history.speed_tier_since is None
    [hint] = [c for c in off.conditions if c.type == ConditionType.SPEED_TIER]
    assert (hint.status, hint.reason) == (False, Reason.METRICS_UNAVAILABLE)


def test_without_the_tier_the_condition_says_disabled() -> None:
    decision = decide(seen(10), replace(POLICY, speed_tier=None), History(), NOW)
    assert decision.speed_tier_steps is None
    [hint] = [c for c in decision.conditions if c.type == ConditionType.SPEED_TIER]
    assert (hint.status, hint.reason) == (False, Reason.SPEED_TIER_DISABLED)


def test_the_fleet_is_sized_for_full_steps_while_degraded() -> None:
    # 20-step images measured at 6 s: the fleet is sized as if each took 9 s.
    degraded = seen(10, arrival_rate=2.0, service_time_s=6.0, steps_per_request=20.0)
    full = seen(10, arrival_rate=2.0, service_time_s=9.0, steps_per_request=30.0)
    assert decide(degraded, POLICY, History(), NOW).replicas == decide(full, POLICY, History(), NOW).replicas


@pytest.mark.parametrize(
    ("service", "steps", "active", "expected"),
    [
        (6.0, 20.0, True, 9.0),  # the steps counter scales exactly
        (9.0, 30.0, True, 9.0),
        (6.0, None, True, 9.0),  # no counter while on: assume every request was degraded (errs high)
        (9.0, None, False, 9.0),  # no counter, tier off: as measured
        (None, 20.0, True, None),
    ],
)
def test_full_steps_service_time(service: float | None, steps: float | None, active: bool,
                                 expected: float | None) -> None:
    assert full_steps_service_time(service, steps, active, TIER) == expected


def test_time_until_ready_counts_down_from_the_last_scale_up() -> None:
    starting = seen(10, current=20)
    assert seconds_until_ready(starting, 90.0, last_scale_up=NOW - 30, now=NOW) == 60.0
    assert seconds_until_ready(starting, 90.0, last_scale_up=NOW - 300, now=NOW) == 0.0
    assert seconds_until_ready(seen(10), 90.0, last_scale_up=None, now=NOW) == 90.0


@pytest.mark.parametrize(("min_steps", "default_steps"), [(0, 30), (30, 30), (31, 30)])
def test_a_floor_must_be_below_the_default_steps(min_steps: int, default_steps: int) -> None:
    with pytest.raises(ValueError, match="min_steps"):
        SpeedTierPolicy(min_steps, default_steps)

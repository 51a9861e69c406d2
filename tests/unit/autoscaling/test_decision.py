"""The replica decision, case by case: scale up, down, hold, limits, stabilization, bad data, zero."""

from __future__ import annotations

from dataclasses import replace

import pytest
from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.autoscaling import (
    FallbackMode,
    History,
    MetricsFailure,
    Observation,
    ScalingPolicy,
    decide,
)
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.history import Recommendation, ScaleEvent

NOW = 1_000_000.0
POLICY = ScalingPolicy(min_replicas=1, max_replicas=20, queue_latency_target_s=10.0, expected_service_time_s=9.0)


def seen(current: int, ready: int | None = None, **signals: float | None) -> Observation:
    return Observation(current_replicas=current, ready_replicas=current if ready is None else ready, **signals)


def needed(arrival_rate: float) -> int:
    return replicas_for_queue_sla(arrival_rate, 9.0, 10.0, POLICY.target_quantile, POLICY.service_time_cv2)


def condition(decision_conditions: tuple, kind: str) -> tuple[bool, str]:
    [hint] = [c for c in decision_conditions if c.type == kind]
    return hint.status, hint.reason


def test_latency_at_target_holds() -> None:
    decision = decide(seen(10, queue_latency_s=10.0), POLICY, History(), NOW)
    assert (decision.replicas, decision.reason) == (10, Reason.WITHIN_TOLERANCE)
    assert not decision.changes_replicas


def test_a_ratio_inside_the_tolerance_band_holds() -> None:
    decision = decide(seen(10, queue_latency_s=10.8), POLICY, History(), NOW)
    assert (decision.replicas, decision.reason) == (10, Reason.WITHIN_TOLERANCE)


def test_latency_over_target_scales_up_by_the_ratio() -> None:
    decision = decide(seen(4, queue_latency_s=30.0), POLICY, History(), NOW)
    assert (decision.replicas, decision.reason) == (12, Reason.SCALED_UP)
    assert decision.history.last_scale_time == NOW
    assert decision.history.scale_events == (ScaleEvent(NOW, 8),)


def test_capacity_estimate_sizes_for_the_arrival_rate() -> None:
    decision = decide(seen(4, queue_latency_s=0.5, pending_requests=0, arrival_rate=1.0, service_time_s=9.0),
                      POLICY, History(), NOW)
    assert decision.replicas == needed(1.0) > 4
    assert decision.reason == Reason.SCALED_UP


def test_batched_service_time_is_shared_by_the_batch() -> None:
    batched = seen(4, queue_latency_s=0.5, pending_requests=0, arrival_rate=1.0, service_time_s=18.0,
                   batch_size=2.0)
    assert decide(batched, POLICY, History(), NOW).replicas == needed(1.0)


def test_a_backlog_adds_replicas_to_work_it_off() -> None:
    base = dict(queue_latency_s=0.5, arrival_rate=0.5, service_time_s=9.0)
    calm = decide(seen(5, pending_requests=0, **base), POLICY, History(), NOW)
    backlog = decide(seen(5, pending_requests=30, **base), POLICY, History(), NOW)
    # 30 pending x 9 s / 5 ready = 54 s of wait: add 30 x 9 s / 30 s drain = 9 replicas.
    assert backlog.replicas == calm.replicas + 9


def test_lagging_average_latency_without_a_backlog_does_not_scale_up() -> None:
    # The rate window still holds the waits of a drained burst; the empty queue says it is over.
    decision = decide(seen(10, queue_latency_s=40.0, pending_requests=0), POLICY, History(), NOW)
    assert decision.replicas == 10


def test_scale_up_is_rate_limited_from_one_replica() -> None:
    decision = decide(seen(1, queue_latency_s=1000.0), POLICY, History(), NOW)
    # Default: max(8 pods, 900 %) per 15 s -> at most 9 from 1 ... here ceil(1 * 10) = 10 wins.
    assert decision.replicas == 10
    assert decision.reason == Reason.SCALED_UP
    assert condition(decision.conditions, ConditionType.SCALING_LIMITED) == (True, Reason.RATE_LIMITED)


def test_scale_up_already_spent_this_period_is_rate_limited() -> None:
    history = History(scale_events=(ScaleEvent(NOW - 5, 9),))
    decision = decide(seen(10, queue_latency_s=1000.0), POLICY, history, NOW)
    assert decision.replicas == 10
    assert decision.reason == Reason.RATE_LIMITED


def test_at_max_replicas_holds_and_says_so() -> None:
    decision = decide(seen(20, queue_latency_s=100.0), POLICY, History(), NOW)
    assert (decision.replicas, decision.reason) == (20, Reason.AT_MAX_REPLICAS)
    assert condition(decision.conditions, ConditionType.SCALING_LIMITED) == (True, Reason.AT_MAX_REPLICAS)


def test_at_min_replicas_holds_and_says_so() -> None:
    decision = decide(seen(1, queue_latency_s=0.0, pending_requests=0, arrival_rate=0.0, service_time_s=9.0),
                      POLICY, History(), NOW)
    assert (decision.replicas, decision.reason) == (1, Reason.AT_MIN_REPLICAS)
    assert condition(decision.conditions, ConditionType.SCALING_LIMITED) == (True, Reason.AT_MIN_REPLICAS)


def test_scale_down_waits_for_the_stabilization_window() -> None:
    history = History(recommendations=(Recommendation(NOW - 60, 10),))
    decision = decide(seen(10, queue_latency_s=0.0, pending_requests=0, arrival_rate=0.2, service_time_s=9.0),
                      POLICY, history, NOW)
    assert (decision.replicas, decision.reason) == (10, Reason.STABILIZING)


def test_scale_down_after_the_window_is_rate_limited_to_half() -> None:
    history = History(recommendations=(Recommendation(NOW - 200, 10), Recommendation(NOW - 100, 4)))
    decision = decide(seen(10, queue_latency_s=0.0, pending_requests=0, arrival_rate=0.2, service_time_s=9.0),
                      POLICY, history, NOW)
    assert needed(0.2) < 5
    assert (decision.replicas, decision.reason) == (5, Reason.SCALED_DOWN)
    assert condition(decision.conditions, ConditionType.SCALING_LIMITED) == (True, Reason.RATE_LIMITED)


# The scaler has watched the down-stabilization window already (an empty history holds, see below).
WATCHED = History(recommendations=(Recommendation(NOW - 60.0, 1),))


def test_without_capacity_data_low_latency_scales_down_like_the_hpa() -> None:
    decision = decide(seen(10, queue_latency_s=5.0), POLICY, WATCHED, NOW)
    assert (decision.replicas, decision.reason) == (5, Reason.SCALED_DOWN)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (History(), (10, Reason.STABILIZING)),  # first evaluation: what we found counts as recommended
        (WATCHED, (5, Reason.SCALED_DOWN)),  # a window already watched: scale down as usual
    ],
)
def test_a_fresh_autoscaler_waits_a_stabilization_window_before_scaling_down(history: History,
                                                                            expected: tuple[int, str]) -> None:
    decision = decide(seen(10, queue_latency_s=5.0), POLICY, history, NOW)
    assert (decision.replicas, decision.reason) == expected
    if decision.replicas == 10:  # and only that long, evaluating every 15 s
        for t in range(15, int(POLICY.scale_down.stabilization_window_s) + 30, 15):
            decision = decide(seen(10, queue_latency_s=5.0), POLICY, decision.history, NOW + t)
        assert decision.replicas == 5


@pytest.mark.parametrize("away_s", [0.0, 60.0])
def test_an_autoscaler_back_after_a_whole_window_away_waits_again(away_s: float) -> None:
    # The last recommendation is older than the 120 s window: nothing says the load stayed low since.
    last = NOW - POLICY.scale_down.stabilization_window_s - away_s - 1
    decision = decide(seen(10, queue_latency_s=5.0), POLICY, History((Recommendation(last, 5),)), NOW)
    assert (decision.replicas, decision.reason) == (10, Reason.STABILIZING)


def test_an_empty_history_never_delays_a_scale_up() -> None:
    decision = decide(seen(4, queue_latency_s=30.0), POLICY, History(), NOW)
    assert decision.replicas == 12


def test_starting_replicas_block_a_scale_down() -> None:
    decision = decide(seen(10, ready=6, queue_latency_s=0.0, pending_requests=0, arrival_rate=0.2,
                           service_time_s=9.0), POLICY, History(), NOW)
    assert (decision.replicas, decision.reason) == (10, Reason.WAITING_FOR_STARTING_REPLICAS)


def test_replicas_that_never_start_stop_blocking_a_scale_down_after_the_startup_timeout() -> None:
    # The last scale-up was 20 minutes ago; 4 pods are still not ready (no GPU left to schedule them).
    history = replace(WATCHED, last_scale_time=NOW - 1200.0)
    decision = decide(seen(10, ready=6, queue_latency_s=0.0, pending_requests=0, arrival_rate=0.2,
                           service_time_s=9.0), POLICY, history, NOW)
    assert decision.reason != Reason.WAITING_FOR_STARTING_REPLICAS
    assert decision.replicas < 10


def test_starting_replicas_are_not_added_twice() -> None:
    # 5 ready at twice the target latency need 10; 5 more are already starting.
    decision = decide(seen(10, ready=5, queue_latency_s=20.0), POLICY, History(), NOW)
    assert decision.replicas == 10


@pytest.mark.parametrize(
    "observation",
    [
        Observation.failed(MetricsFailure.EMPTY_RESULT, "no series", 6, 6),
        Observation.failed(MetricsFailure.UNREACHABLE, "connection refused", 6, 6),
        Observation.failed(MetricsFailure.MULTIPLE_SERIES, "2 series", 6, 6),
        seen(6, queue_latency_s=float("nan")),
        seen(6, queue_latency_s=1.0, pending_requests=float("inf")),
        seen(6, queue_latency_s=1.0, arrival_rate=float("-inf")),
        seen(6, queue_latency_s=-1.0),
        seen(6),  # neither latency nor pending
    ],
)
def test_bad_metrics_hold_the_fleet_and_count_a_failure(observation: Observation) -> None:
    decision = decide(observation, POLICY, History(recommendations=(Recommendation(NOW - 500, 2),)), NOW)
    assert decision.replicas == 6
    assert decision.reason == Reason.METRICS_UNAVAILABLE
    assert decision.history.consecutive_failures == 1
    assert condition(decision.conditions, ConditionType.SCALING_ACTIVE) == (False, Reason.METRICS_UNAVAILABLE)
    assert condition(decision.conditions, ConditionType.FALLBACK)[0] is False


def test_repeated_failures_report_fallback_and_hold_by_default() -> None:
    history = History(consecutive_failures=2)
    decision = decide(Observation.failed(MetricsFailure.TIMEOUT, "5s", 6, 6), POLICY, history, NOW)
    assert (decision.replicas, decision.reason) == (6, Reason.FALLBACK_ACTIVE)
    assert condition(decision.conditions, ConditionType.FALLBACK) == (True, Reason.FALLBACK_ACTIVE)


@pytest.mark.parametrize(("current", "expected"), [(3, 8), (12, 12)])
def test_fixed_fallback_only_raises_the_fleet(current: int, expected: int) -> None:
    policy = replace(POLICY, fallback=FallbackMode.FIXED, fallback_replicas=8)
    failed = Observation.failed(MetricsFailure.HTTP_ERROR, "503", current, current)
    decision = decide(failed, policy, History(consecutive_failures=5), NOW)
    assert decision.replicas == expected


def test_a_good_read_resets_the_failure_count() -> None:
    decision = decide(seen(4, queue_latency_s=10.0), POLICY, History(consecutive_failures=7), NOW)
    assert decision.history.consecutive_failures == 0
    assert condition(decision.conditions, ConditionType.SCALING_ACTIVE) == (True, Reason.VALID_METRICS)


ZERO = replace(POLICY, min_replicas=0, scale_to_zero_after_s=600.0)
IDLE = dict(queue_latency_s=0.0, pending_requests=0, arrival_rate=0.0, service_time_s=9.0)


def test_an_idle_service_starts_its_idle_clock_but_keeps_one_replica() -> None:
    decision = decide(seen(1, **IDLE), ZERO, History(), NOW)
    assert decision.replicas == 1
    assert decision.history.idle_since == NOW


def test_a_service_idle_long_enough_scales_to_zero() -> None:
    decision = decide(seen(1, **IDLE), ZERO, History(idle_since=NOW - 600), NOW)
    assert (decision.replicas, decision.reason) == (0, Reason.SCALED_TO_ZERO)


def test_traffic_resets_the_idle_clock() -> None:
    busy = dict(IDLE, arrival_rate=0.05)
    decision = decide(seen(1, **busy), ZERO, History(idle_since=NOW - 599), NOW)
    assert decision.replicas >= 1
    assert decision.history.idle_since is None
    later = decide(seen(1, **IDLE), ZERO, decision.history, NOW + 15)
    assert later.replicas == 1  # the idle clock starts again from now


def test_without_min_zero_an_idle_service_never_scales_to_zero() -> None:
    decision = decide(seen(1, **IDLE), POLICY, History(idle_since=NOW - 10_000), NOW)
    assert decision.replicas == 1


def test_at_zero_with_nothing_pending_stays_at_zero() -> None:
    decision = decide(seen(0, queue_latency_s=0.0, pending_requests=0), ZERO, History(), NOW)
    assert (decision.replicas, decision.reason) == (0, Reason.SCALED_TO_ZERO)
    assert condition(decision.conditions, ConditionType.SCALING_ACTIVE) == (False, Reason.SCALED_TO_ZERO)


def test_pending_requests_wake_the_service_from_zero() -> None:
    decision = decide(seen(0, queue_latency_s=0.0, pending_requests=3), ZERO, History(), NOW)
    assert (decision.replicas, decision.reason) == (1, Reason.WOKE_FROM_ZERO)
    assert decision.history.scale_events == (ScaleEvent(NOW, 1),)


def test_a_known_arrival_rate_wakes_enough_replicas_for_it() -> None:
    decision = decide(seen(0, queue_latency_s=0.0, pending_requests=5, arrival_rate=1.0), ZERO, History(), NOW)
    assert decision.recommended_replicas == needed(1.0) == 11
    assert decision.replicas == 8  # the default scale-up limit: 8 pods per 15 s from zero


def test_the_activation_threshold_must_be_exceeded() -> None:
    policy = replace(ZERO, activation_pending_requests=2)
    assert decide(seen(0, queue_latency_s=0.0, pending_requests=2), policy, History(), NOW).replicas == 0
    assert decide(seen(0, queue_latency_s=0.0, pending_requests=3), policy, History(), NOW).replicas == 1


def test_a_failed_read_at_zero_stays_at_zero() -> None:
    failed = Observation.failed(MetricsFailure.UNREACHABLE, "refused", 0, 0)
    assert decide(failed, ZERO, History(), NOW).replicas == 0


def test_below_min_is_raised_to_min_even_when_metrics_fail() -> None:
    failed = Observation.failed(MetricsFailure.UNREACHABLE, "refused", 0, 0)
    assert decide(failed, POLICY, History(), NOW).replicas == 1


def test_the_decision_is_pure_and_repeatable() -> None:
    observation = seen(4, queue_latency_s=30.0, pending_requests=12, arrival_rate=1.0, service_time_s=9.0)
    history = History(recommendations=(Recommendation(NOW - 30, 4),))
    assert decide(observation, POLICY, history, NOW) == decide(observation, POLICY, history, NOW)


def test_the_message_explains_the_numbers() -> None:
    decision = decide(seen(4, queue_latency_s=30.0, pending_requests=2, arrival_rate=1.0, service_time_s=9.0),
                      POLICY, History(), NOW)
    assert "queue 30.00s" in decision.message and "target 10s" in decision.message
    assert "1.00 req/s" in decision.message and "4 -> " in decision.message


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(min_replicas=5, max_replicas=4),
        dict(queue_latency_target_s=0.0),
        dict(tolerance=1.0),
        dict(failure_threshold=0),
        dict(fallback=FallbackMode.FIXED),
        dict(target_quantile=1.0),
        dict(burst_memory_s=-1.0),
        dict(burst_growth=0.0),
        dict(burst_hold_gaps=0.0),
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ScalingPolicy(**kwargs)

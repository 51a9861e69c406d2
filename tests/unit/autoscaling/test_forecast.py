"""The predictive floor: Holt-Winters learns a season, forecasts a rise, and is ignored when untrustworthy."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.status import AutoscalerMemory
from diffusion_operator.autoscaling import History, MetricsFailure, Observation, ScalingPolicy, decide
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.forecast import (
    BUCKETS,
    WARMUP_BUCKETS,
    ForecastState,
    forecast_peak,
    observe_arrivals,
)
from diffusion_operator.autoscaling.history import Recommendation
from diffusion_operator.autoscaling.predictive import PredictiveFloor, predictive_floor

SEASON = 4800.0  # 100 s buckets
BUCKET = SEASON / BUCKETS
POLICY = ScalingPolicy(min_replicas=1, max_replicas=60, queue_latency_target_s=10.0, expected_service_time_s=9.0,
                       forecast_season_s=SEASON, cold_start_s=90.0)


def mornings(t: float) -> float:
    """0.5 req/s, and 3 req/s for the second half of every season (a sharp 'morning')."""
    return 3.0 if (t % SEASON) >= SEASON / 2 else 0.5


def learned(rate, seasons: float, start: float = 0.0, step: float = 15.0) -> ForecastState:  # type: ignore[no-untyped-def]
    state = None
    t = start
    while t < start + seasons * SEASON:
        state = observe_arrivals(state, SEASON, t, rate(t))
        t += step
    assert state is not None
    return state


def needed(rate: float) -> int:
    return replicas_for_queue_sla(rate, 9.0, 10.0, POLICY.target_quantile, POLICY.service_time_cv2)


def test_too_little_history_is_ignored_and_says_so() -> None:
    state = learned(mornings, 0.5)
    forecast = forecast_peak(state, 0.5 * SEASON, 120.0)
    assert forecast.rate is None
    assert f"/{WARMUP_BUCKETS} buckets of history" in forecast.note
    assert forecast_peak(None, 0.0, 120.0).rate is None


def test_a_learned_season_forecasts_the_rise_before_it_arrives() -> None:
    state = learned(mornings, 3.45)  # just before the fourth morning (it starts at 3.5 seasons)
    now = 3.45 * SEASON
    assert mornings(now) == 0.5
    ahead = forecast_peak(state, now, 0.05 * SEASON + BUCKET)
    assert ahead.rate is not None and ahead.rate == pytest.approx(3.0, rel=0.15)
    assert forecast_peak(state, now, 60.0).rate == pytest.approx(0.5, abs=0.3)  # nothing rises within 60 s


def test_the_floor_is_the_capacity_model_for_the_forecast_rate() -> None:
    state = learned(mornings, 3.45)
    floor = predictive_floor(History(forecast=state), POLICY, 9.0, 3.48 * SEASON)
    forecast = forecast_peak(state, 3.48 * SEASON, POLICY.cold_start_s + 30.0)
    assert forecast.rate is not None
    assert floor.replicas == needed(forecast.rate) > needed(0.5)
    assert "forecast" in floor.note and f"floor {floor.replicas}" in floor.note


def test_a_one_off_crowd_is_not_replayed_a_season_later() -> None:
    def crowd(t: float) -> float:
        return 6.0 if 1.5 * SEASON <= t < 1.6 * SEASON else 1.0

    state = learned(crowd, 2.48)
    forecast = forecast_peak(state, 2.48 * SEASON, 2 * BUCKET)
    assert forecast.rate is None and "recent error" in forecast.note


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, None])
def test_bad_samples_are_not_learned(bad: float | None) -> None:
    state = observe_arrivals(None, SEASON, 0.0, 1.0)
    assert observe_arrivals(state, SEASON, 15.0, bad) == state


def test_a_wild_forecast_is_ignored() -> None:
    state = replace(learned(mornings, 2.0), trend=50.0)
    forecast = forecast_peak(state, 2.0 * SEASON, 120.0)
    assert forecast.rate is None and "wild" in forecast.note


def test_a_non_finite_state_is_ignored() -> None:
    state = replace(learned(mornings, 2.0), error=math.nan)
    assert forecast_peak(state, 2.0 * SEASON, 120.0).rate is None


def test_a_new_season_length_starts_over() -> None:
    state = learned(mornings, 2.0)
    again = observe_arrivals(state, SEASON * 2, 2.0 * SEASON, 1.0)
    assert again.seen == 0 and again.season_s == SEASON * 2


def test_the_state_round_trips_through_status_and_stays_small() -> None:
    state = learned(mornings, 2.0)
    history = History(forecast=state)
    back = History.from_dict(history.to_dict())
    assert back.forecast is not None and back.forecast.seen == state.seen
    assert back.forecast.seasonal == pytest.approx(state.seasonal, abs=1e-4)
    assert len(str(history.to_dict()["forecast"])) < 1200  # ~50 numbers, whatever the season length


def test_the_floor_raises_the_count_and_names_itself() -> None:
    state = learned(mornings, 3.45)
    now = 3.48 * SEASON
    observation = Observation(current_replicas=needed(0.5), ready_replicas=needed(0.5), queue_latency_s=0.5,
                              pending_requests=0, arrival_rate=0.5, service_time_s=9.0)
    decision = decide(observation, POLICY, History(forecast=state), now)
    assert decision.reason == Reason.PREDICTIVE_FLOOR
    assert decision.replicas > needed(0.5)
    assert "forecast" in decision.message and "floor" in decision.message


def test_without_the_floor_the_same_moment_holds() -> None:
    state = learned(mornings, 3.45)
    now = 3.48 * SEASON
    observation = Observation(current_replicas=needed(0.5), ready_replicas=needed(0.5), queue_latency_s=0.5,
                              pending_requests=0, arrival_rate=0.5, service_time_s=9.0)
    decision = decide(observation, replace(POLICY, forecast_season_s=None), History(forecast=state), now)
    assert decision.replicas == needed(0.5)
    assert decision.history.forecast is None  # the floor off forgets its state


def test_a_low_forecast_never_scales_down() -> None:
    state = learned(lambda t: 0.5, 2.0)
    now = 2.0 * SEASON
    observation = Observation(current_replicas=30, ready_replicas=30, queue_latency_s=0.5, pending_requests=0,
                              arrival_rate=3.0, service_time_s=9.0)
    decision = decide(observation, POLICY, History(forecast=state), now)
    assert decision.replicas == 30  # the reactive demand (3 req/s) decides; the forecast (0.5) cannot lower it
    assert decision.reason != Reason.PREDICTIVE_FLOOR


def test_an_ignored_forecast_says_why_in_the_message() -> None:
    observation = Observation(current_replicas=5, ready_replicas=5, queue_latency_s=0.5, pending_requests=0,
                              arrival_rate=0.5, service_time_s=9.0)
    decision = decide(observation, POLICY, History(), 0.0)
    assert "forecast ignored" in decision.message


def test_failed_metrics_leave_the_forecast_alone_and_never_scale_down() -> None:
    state = learned(mornings, 3.45)
    failed = Observation.failed(MetricsFailure.TIMEOUT, "slow", current_replicas=8, ready_replicas=8)
    decision = decide(failed, POLICY, History(forecast=state), 3.46 * SEASON)
    assert decision.history.forecast == state
    assert decision.replicas == 8


@pytest.mark.parametrize(
    ("floor", "stabilized", "current", "expected"),
    [
        (None, 5, 5, (5, False)),
        (8, 5, 5, (8, True)),  # raises past the tolerance band
        (5, 5, 5, (5, False)),  # agrees: nothing to do
        (10, 4, 10, (10, True)),  # keeps replicas a scale-down would remove
        (11, 10, 10, (10, False)),  # inside the 10 % band above current: no scale-up for it
        (100, 5, 5, (60, True)),  # capped at max replicas
    ],
)
def test_the_floor_only_raises(floor: int | None, stabilized: int, current: int,
                               expected: tuple[int, bool]) -> None:
    assert PredictiveFloor(floor, "").applied(stabilized, current, 60, 0.1) == expected


def test_the_status_schema_keeps_every_field_of_the_state() -> None:
    state = learned(mornings, 2.0)
    stored = AutoscalerMemory.model_validate(History(forecast=state).to_dict())
    back = History.from_dict(stored.model_dump(by_alias=True))
    assert back.forecast == ForecastState.from_dict(state.to_dict())


def test_a_trusted_forecast_replaces_the_burst_memorys_guess() -> None:
    now = 1_002_000.0
    base, burst = (13,) * 4, (40, 41, 40)
    per_minute = (*base, *burst, *base, *burst, *base)  # two bursts 7 minutes apart: the memory would hold
    start = now - len(per_minute) * 60.0
    recommendations = tuple(Recommendation(start + 60.0 * m + 15.0 * k, r)
                            for m, r in enumerate(per_minute) for k in range(4))
    quiet = Observation(current_replicas=40, ready_replicas=40, queue_latency_s=0.0, pending_requests=0,
                        arrival_rate=1.0, service_time_s=9.0)
    state = learned(lambda t: 1.0, 2.0, start=now - 2 * SEASON)
    guessing = decide(quiet, replace(POLICY, forecast_season_s=None), History(recommendations=recommendations), now)
    assert (guessing.replicas, guessing.reason) == (40, Reason.HOLDING_FOR_BURSTS)
    knowing = decide(quiet, POLICY, History(recommendations=recommendations, forecast=state), now)
    assert knowing.replicas < 40 and knowing.reason == Reason.SCALED_DOWN

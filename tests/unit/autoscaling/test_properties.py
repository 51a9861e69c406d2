"""Properties that hold for every input: bounds, never shrinking on bad data, history round trips."""

from __future__ import annotations

from diffusion_operator.autoscaling import History, MetricsFailure, Observation, ScalingPolicy, decide
from diffusion_operator.autoscaling.history import Recommendation, ScaleEvent
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = 1_000_000.0
signal = st.one_of(st.none(), st.floats(min_value=-1.0, max_value=1e4),
                   st.sampled_from([float("nan"), float("inf"), float("-inf")]))


@st.composite
def policies(draw: st.DrawFn) -> ScalingPolicy:
    low = draw(st.integers(0, 10))
    high = draw(st.integers(max(low, 1), 40))
    return ScalingPolicy(min_replicas=low, max_replicas=high,
                         queue_latency_target_s=draw(st.floats(0.1, 60.0)),
                         expected_service_time_s=draw(st.one_of(st.none(), st.floats(0.1, 30.0))))


@st.composite
def histories(draw: st.DrawFn) -> History:
    recommendations = draw(st.lists(st.tuples(st.floats(0, 600), st.integers(0, 50)), max_size=6))
    events = draw(st.lists(st.tuples(st.floats(0, 600), st.integers(-20, 20)), max_size=4))
    return History(
        recommendations=tuple(Recommendation(NOW - age, r) for age, r in recommendations),
        scale_events=tuple(ScaleEvent(NOW - age, c) for age, c in events if c),
        consecutive_failures=draw(st.integers(0, 5)),
        idle_since=draw(st.one_of(st.none(), st.floats(NOW - 2000, NOW))),
    )


@st.composite
def observations(draw: st.DrawFn, policy: ScalingPolicy) -> Observation:
    current = draw(st.integers(policy.min_replicas, policy.max_replicas))
    ready = draw(st.integers(0, current))
    return Observation(current_replicas=current, ready_replicas=ready, queue_latency_s=draw(signal),
                       pending_requests=draw(signal), arrival_rate=draw(signal), service_time_s=draw(signal),
                       batch_size=draw(signal))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), policy=policies(), history=histories())
def test_the_result_stays_within_min_and_max(data: st.DataObject, policy: ScalingPolicy, history: History) -> None:
    observation = data.draw(observations(policy))
    decision = decide(observation, policy, history, NOW)
    assert policy.min_replicas <= decision.replicas <= policy.max_replicas


@settings(max_examples=200, deadline=None)
@given(policy=policies(), history=histories(), failure=st.sampled_from(list(MetricsFailure)),
       current=st.integers(0, 50))
def test_a_failed_observation_never_scales_below_current(policy: ScalingPolicy, history: History,
                                                         failure: MetricsFailure, current: int) -> None:
    decision = decide(Observation.failed(failure, "x", current, current), policy, history, NOW)
    assert decision.replicas >= current
    assert decision.history.consecutive_failures == history.consecutive_failures + 1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), policy=policies(), history=histories())
def test_history_round_trips_after_any_decision(data: st.DataObject, policy: ScalingPolicy,
                                                history: History) -> None:
    decision = decide(data.draw(observations(policy)), policy, history, NOW)
    assert History.from_dict(decision.history.to_dict()) == decision.history

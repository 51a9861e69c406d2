"""Burst memory: recurring jumps in demand keep the capacity the last bursts needed, and nothing else does."""

from __future__ import annotations

from dataclasses import replace

import pytest
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.status import MAX_HISTORY_ENTRIES, AutoscalerMemory
from diffusion_operator.autoscaling import History, Observation, ScalingPolicy, decide
from diffusion_operator.autoscaling.bursts import BUCKET_S, burst_floor, read_memory
from diffusion_operator.autoscaling.history import Recommendation

T0 = 16_667 * BUCKET_S + 5.0  # 5 s into a minute, as an unaligned timer would be
GROWTH, GAPS = 0.5, 3.0


def minutes(*per_minute: int, start: float = T0, every_s: float = 15.0) -> tuple[Recommendation, ...]:
    """Recommendations every ``every_s`` seconds, one value per minute (``0`` = no evaluation that minute)."""
    recs = []
    for i, replicas in enumerate(per_minute):
        if replicas:
            recs += [
                Recommendation(start + i * BUCKET_S + k * every_s, replicas) for k in range(int(BUCKET_S // every_s))
            ]
    return tuple(recs)


BASE = (12, 13, 12, 13, 12)


@pytest.mark.parametrize(
    ("per_minute", "onset_minutes", "sustained"),
    [
        (BASE * 3, [], 0),  # a steady base load: no bursts
        ((*BASE, 40, 41, 40, *BASE), [5], 40),  # a 3x jump is a burst; it held 40 for two minutes
        ((*BASE, 22, 40, 41, *BASE), [5], 40),  # a ramp over three minutes is one burst, not two
        ((*BASE, 40, *BASE), [5], 12),  # one minute at 40 is not sustained: only the base after it is
        ((8, 9, 8, 12, 8, 12, 9), [], 0),  # +4 pods on 8 is +50 % but within a small fleet's noise
        ((20, 20, 20, 26, 28, 28), [], 0),  # +40 % is growth, not a burst
        ((12, 12, 0, 0, 40, 40), [], 0),  # minutes without evaluations: no evidence of a jump
        # Two bursts: the first met a base-sized fleet and asked for 64 to drain its backlog, the second
        # met a held fleet and asked for 41, which is what the next one needs.
        ((*BASE, 64, 64, 64, *BASE, 40, 41, 41, *BASE), [5, 13], 41),
        ((*BASE, 64, 64, *BASE, 40, 41, *BASE, 39, 41, 40, *BASE), [5, 12, 19], 40),
    ],
)
def test_onsets_and_the_sustained_peak(per_minute: tuple[int, ...], onset_minutes: list[int], sustained: int) -> None:
    memory = read_memory(minutes(*per_minute), GROWTH)
    first_bucket = int(T0 // BUCKET_S)
    assert [int(t // BUCKET_S) - first_bucket for t in memory.onsets] == onset_minutes
    assert memory.sustained_peak == sustained


def test_a_burst_still_ramping_does_not_lower_the_hold_under_it() -> None:
    # The third burst began a minute ago and reads 20 so far (its arrival estimate is still catching up):
    # the hold stays at what the previous burst held.
    recs = minutes(*BASE, 40, 41, *BASE, 42, 42, 42, *BASE, 20)
    assert read_memory(recs, GROWTH).sustained_peak == 42


ONE_BURST = (*BASE, 40, 41, 40, *BASE)
TWO_BURSTS = (*BASE, 40, 41, 40, *BASE, 40, 41, 40, *BASE)  # onsets 8 minutes apart


@pytest.mark.parametrize(
    ("per_minute", "minutes_after_last_onset", "floor"),
    [
        (BASE * 4, 1, None),  # no bursts
        (ONE_BURST, 5, None),  # one burst is an event, not a pattern
        (TWO_BURSTS, 5, 40),  # recurring: keep what the bursts needed
        (TWO_BURSTS, 24, 40),  # still within 3 mean gaps (3 x 8 min)
        (TWO_BURSTS, 25, None),  # 3 mean gaps without another burst: let go
    ],
)
def test_burst_floor_holds_while_bursts_recur(
    per_minute: tuple[int, ...], minutes_after_last_onset: int, floor: int | None
) -> None:
    recs = minutes(*per_minute)
    memory = read_memory(recs, GROWTH)
    last_onset = memory.onsets[-1] if memory.onsets else recs[-1].at
    now = last_onset + minutes_after_last_onset * BUCKET_S
    assert burst_floor(recs, now, growth=GROWTH, hold_gaps=GAPS) == floor


def test_onsets_read_the_same_from_a_thinned_memory() -> None:
    # History.pruned keeps one (the highest) recommendation per minute beyond the stabilization window.
    full = minutes(*TWO_BURSTS)
    thinned = tuple(
        max((r for r in full if int(r.at // BUCKET_S) == b), key=lambda r: r.replicas)
        for b in sorted({int(r.at // BUCKET_S) for r in full})
    )
    assert read_memory(thinned, GROWTH) == read_memory(full, GROWTH)


def demand_history(*per_minute: int, now: float) -> History:
    """Recommendations every 15 s ending just before ``now``, one value per minute."""
    start = now - len(per_minute) * BUCKET_S
    return History(recommendations=minutes(*per_minute, start=start))


POLICY = ScalingPolicy(min_replicas=1, max_replicas=64, queue_latency_target_s=10.0, expected_service_time_s=9.0)
QUIET = Observation(
    current_replicas=40,
    ready_replicas=40,
    queue_latency_s=0.0,
    pending_requests=0,
    arrival_rate=1.0,
    service_time_s=9.0,
)  # a base load that needs ~13 replicas
NOW = 16_700 * BUCKET_S


@pytest.mark.parametrize(
    ("per_minute", "policy", "expected"),
    [
        (TWO_BURSTS, POLICY, (40, Reason.HOLDING_FOR_BURSTS)),  # recurring: keep what they needed
        (TWO_BURSTS, replace(POLICY, burst_memory_s=0.0), (20, Reason.SCALED_DOWN)),  # off: 50 %/min down
        (ONE_BURST, POLICY, (20, Reason.SCALED_DOWN)),  # a single burst is not a pattern
        ((*TWO_BURSTS, *BASE * 6), POLICY, (20, Reason.SCALED_DOWN)),  # 35 min quiet > 3 gaps of 8 min
        (TWO_BURSTS, replace(POLICY, burst_hold_gaps=0.5), (20, Reason.SCALED_DOWN)),  # half a gap: let go
    ],
)
def test_the_decision_keeps_burst_capacity_only_while_bursts_recur(
    per_minute: tuple[int, ...], policy: ScalingPolicy, expected: tuple[int, str]
) -> None:
    decision = decide(QUIET, policy, demand_history(*per_minute, now=NOW), NOW)
    assert (decision.replicas, decision.reason) == expected


def test_the_hold_never_orders_pods() -> None:
    below = replace(QUIET, current_replicas=20, ready_replicas=20)
    decision = decide(below, POLICY, demand_history(*TWO_BURSTS, now=NOW), NOW)
    assert decision.replicas == 20


@pytest.mark.parametrize(("interval_s", "hours"), [(15.0, 6.0), (2.0, 3.0)])
def test_the_remembered_history_fits_the_status_schema(interval_s: float, hours: float) -> None:
    """Bursts every 10 minutes for hours: the history the status stores stays within its list limit."""
    history, t = History(), NOW
    replicas = 13
    while t < NOW + hours * 3600:
        minute = int((t - NOW) // 60)
        demand = 40 if minute % 10 < 3 else 12
        obs = replace(QUIET, current_replicas=replicas, ready_replicas=replicas, arrival_rate=demand / 10)
        decision = decide(obs, POLICY, history, t)
        history, replicas = decision.history, decision.replicas
        t += interval_s
    stored = AutoscalerMemory.model_validate(history.to_dict())
    assert len(stored.recommendations) <= MAX_HISTORY_ENTRIES
    assert len(history.recommendations) < (POLICY.burst_memory_s / BUCKET_S + 200 / interval_s) + 2

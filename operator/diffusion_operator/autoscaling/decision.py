"""The replica decision: a pure function of (observation, policy, history, now), in the HPA's shape.

    signals ─► demand estimate (capacity model + backlog, or latency ratio) ─► tolerance band ─► ceil
            ─► clamp [min, max] ─► hold while replicas start ─► stabilization ─► rate limits ─► reason

Failed or untrustworthy metrics never scale down: the fleet is held (or raised to a fallback) and
failures are counted so the status can show ``Fallback`` after ``policy.failure_threshold`` in a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.autoscaling.behavior import scale_down_limit, scale_up_limit, stabilize
from diffusion_operator.autoscaling.bursts import BUCKET_S, burst_floor
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.history import History
from diffusion_operator.autoscaling.observation import MetricsFailure, Observation
from diffusion_operator.autoscaling.speed_tier import decide_tier, full_steps_service_time, seconds_until_ready
from diffusion_operator.autoscaling.policy import FallbackMode, ScalingPolicy
from diffusion_operator.autoscaling.predictive import learn_arrivals, predictive_floor

# Below this arrival rate (requests/s) and with nothing pending the service counts as idle.
IDLE_ARRIVAL_RATE = 1e-3


@dataclass(frozen=True)
class ConditionHint:
    """What a condition should say; the status writer owns ``lastTransitionTime``."""

    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Demand:
    """How many replicas the signals ask for, before any policy limits, and why."""

    replicas: int
    capacity_replicas: int | None
    latency_ratio: float | None
    idle: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    replicas: int
    reason: str
    message: str
    history: History
    conditions: tuple[ConditionHint, ...]
    previous_replicas: int
    recommended_replicas: int
    observed_queue_latency_s: float | None = None
    speed_tier_steps: int | None = None  # steps for requests without their own (None: the pipeline's default)

    @property
    def changes_replicas(self) -> bool:
        return self.replicas != self.previous_replicas


def decide(observation: Observation, policy: ScalingPolicy, history: History, now: float) -> Decision:
    """Recommend ``spec.replicas`` for the Triton Deployment, and the speed tier. Pure: no clock, no I/O.

    While the speed tier is on, the measured service time is of degraded images; the replica decision
    sizes with the full-step time, so the fleet is sized for full steps and the tier can end.
    """
    if policy.speed_tier is not None and observation.service_time_s is not None:
        observation = replace(observation, service_time_s=full_steps_service_time(
            observation.service_time_s, observation.steps_per_request, history.speed_tier_since is not None,
            policy.speed_tier))
    return _with_speed_tier(_decide(observation, policy, history, now), observation, policy, now)


def _with_speed_tier(decision: Decision, observation: Observation, policy: ScalingPolicy, now: float) -> Decision:
    history = decision.history
    last_up = max((e.at for e in history.scale_events if e.change > 0), default=None)
    tier = decide_tier(observation, policy.speed_tier, service_time_s=per_request_service_time(observation, policy),
                       target_s=policy.queue_latency_target_s,
                       until_ready_s=seconds_until_ready(observation, policy.cold_start_s, last_up, now),
                       was_active=history.speed_tier_since is not None)
    since = (history.speed_tier_since or now) if tier.active else None
    hint = ConditionHint(ConditionType.SPEED_TIER, tier.active, tier.reason, tier.message)
    return replace(decision, history=replace(history, speed_tier_since=since), speed_tier_steps=tier.steps,
                   conditions=(*decision.conditions, hint))


def _decide(observation: Observation, policy: ScalingPolicy, history: History, now: float) -> Decision:
    history = history.pruned(now, policy.history_horizon_s, policy.burst_memory_s, BUCKET_S)
    problem = observation.problem()
    if problem is not None:
        return _hold_on_failure(observation, policy, history, now, failure=problem[0], detail=problem[1])
    history = learn_arrivals(replace(history, consecutive_failures=0), observation, policy, now)
    if observation.current_replicas == 0 and policy.allows_zero:
        return _at_zero(observation, policy, history, now)
    return _scale(observation, policy, history, now)


def estimate_demand(observation: Observation, policy: ScalingPolicy) -> Demand:
    """Replicas the load needs: the capacity model plus a backlog allowance, or the latency ratio.

    The capacity model (arrival rate x service time -> Erlang C) sizes for the SLA directly and does not
    lag like a rate window, so it alone may shrink the fleet. When the pending backlog implies a wait
    beyond the target (pending x service time / ready replicas), enough replicas to work it off within
    ``policy.backlog_drain_s`` are added. The measured average queue latency feeds an HPA-style ratio
    (ready x latency / target) that can only push up: it catches what the estimate has not seen yet.
    Starting replicas are part of ``current`` but not of ``ready``, so they are never added twice.
    """
    current = observation.current_replicas
    ready = max(observation.ready_replicas, 1)
    target = policy.queue_latency_target_s
    service = per_request_service_time(observation, policy)
    capacity: int | None = None
    if observation.arrival_rate is not None and service is not None:
        capacity = replicas_for_queue_sla(observation.arrival_rate, service, target,
                                          policy.target_quantile, policy.service_time_cv2)
    backlog = 0
    backlog_wait = _backlog_wait(observation, service, ready)
    if backlog_wait is not None and backlog_wait > target * (1 + policy.tolerance):
        assert service is not None and observation.pending_requests is not None
        backlog = math.ceil(observation.pending_requests * service / policy.backlog_drain_s)
    ratio = _confirmed_latency_ratio(observation.queue_latency_s, backlog_wait, target)
    latency_replicas = math.ceil(ready * ratio) if ratio is not None and ratio > 1 + policy.tolerance else 0
    average_ratio = None if observation.queue_latency_s is None else observation.queue_latency_s / target
    if capacity is not None:
        raw = max(capacity + backlog, latency_replicas)
    elif latency_replicas or backlog:
        raw = max(latency_replicas, observation.ready_replicas + backlog)
    elif average_ratio is not None and average_ratio < 1 - policy.tolerance:
        # The HPA's rule when there is no capacity data; the lagging average errs on the safe side.
        raw = math.ceil(observation.ready_replicas * average_ratio)
    else:
        raw = current
    if current > 0 and abs(raw / current - 1) <= policy.tolerance:
        raw = current
    idle = ((observation.pending_requests or 0) <= 0
            and observation.arrival_rate is not None and observation.arrival_rate < IDLE_ARRIVAL_RATE)
    detail = _describe(observation, service, capacity, ratio, target) + (f", backlog +{backlog}" if backlog else "")
    return Demand(raw, capacity, ratio, idle, detail)


def per_request_service_time(observation: Observation, policy: ScalingPolicy) -> float | None:
    """Replica-seconds one request costs: an execution's duration shared by its batch."""
    if observation.service_time_s is not None and observation.service_time_s > 0:
        return observation.service_time_s / max(observation.batch_size or 1.0, 1.0)
    return policy.expected_service_time_s


def _confirmed_latency_ratio(average_wait: float | None, backlog_wait: float | None, target: float) -> float | None:
    """Queue latency over target, trusting the lagging average only as far as the backlog confirms it.

    Counters move when requests complete, so the windowed average keeps reporting a drained backlog's
    long waits for a whole window after the queue is empty; the wait implied by the pending count now
    bounds it. Without a pending count the average is all there is.
    """
    if average_wait is None:
        return None
    if backlog_wait is not None:
        average_wait = min(average_wait, backlog_wait)
    return average_wait / target


def _backlog_wait(observation: Observation, service: float | None, ready: int) -> float | None:
    if observation.pending_requests is None or service is None:
        return None
    return observation.pending_requests * service / ready


def _scale(observation: Observation, policy: ScalingPolicy, history: History, now: float) -> Decision:
    current = observation.current_replicas
    demand = estimate_demand(observation, policy)
    history = _track_idle(history, demand.idle, now)
    if (policy.allows_zero and history.idle_since is not None
            and now - history.idle_since >= policy.scale_to_zero_after_s):
        return _finish(observation, history.with_scale(now, -current), replicas=0,
                       recommended=demand.replicas, reason=Reason.SCALED_TO_ZERO,
                       message=f"idle since {history.idle_since:.0f}; {demand.detail}",
                       active=_active(False, Reason.SCALED_TO_ZERO, "scaled to zero while idle"), limited=None)

    lower, upper = max(policy.min_replicas, 1), policy.max_replicas
    clamped = min(max(demand.replicas, lower), upper)
    clamp_reason = None
    if clamped != demand.replicas:
        clamp_reason = Reason.AT_MAX_REPLICAS if clamped == upper else Reason.AT_MIN_REPLICAS
    started_long_ago = history.last_scale_time is not None and now - history.last_scale_time > policy.startup_timeout_s
    waiting = observation.starting_replicas > 0 and clamped < current <= upper and not started_long_ago
    if waiting:
        clamped = current

    window = policy.scale_down.stabilization_window_s
    if clamped < current and window > 0 and not any(r.at >= now - window for r in history.recommendations):
        # Nothing seen within the windows (first evaluation, or the operator was away): the replicas we
        # found are the only evidence, so they count as recommended now and a scale-down waits out the
        # window, as missing data counts against the change in the HPA. The first rate windows after a
        # start read low (counters move on completion): on the benchmark this removed 30-70 misses.
        history = history.with_recommendation(now, current)
    history = history.with_recommendation(now, clamped)
    stabilized = stabilize(clamped, current, history, now, up=policy.scale_up, down=policy.scale_down)
    held = False
    predicted = predictive_floor(history, policy, per_request_service_time(observation, policy), now)
    # A trusted forecast knows when the next burst comes; the burst memory only guesses that one will.
    if stabilized < current and policy.burst_memory_s > 0 and predicted.replicas is None:
        floor = burst_floor(history.recommendations, now, growth=policy.burst_growth,
                            hold_gaps=policy.burst_hold_gaps)
        if floor is not None and min(floor, current) > stabilized:
            stabilized, held = min(floor, current), True
    stabilized, by_forecast = predicted.applied(stabilized, current, upper, policy.tolerance)
    final = stabilized
    if stabilized > current:
        ceiling = scale_up_limit(current, history, now, policy.scale_up)
        final = stabilized if ceiling is None else min(stabilized, ceiling)
    elif stabilized < current:
        floor = scale_down_limit(current, history, now, policy.scale_down)
        final = stabilized if floor is None else max(stabilized, floor)
    rate_limited = final != stabilized

    reason = _reason(final - current, first=(
        (by_forecast, Reason.PREDICTIVE_FLOOR), (rate_limited, Reason.RATE_LIMITED),
        (held, Reason.HOLDING_FOR_BURSTS), (stabilized != clamped, Reason.STABILIZING),
        (waiting, Reason.WAITING_FOR_STARTING_REPLICAS), (clamp_reason is not None, clamp_reason or "")))
    limited = Reason.RATE_LIMITED if rate_limited else clamp_reason
    forecast = f"; {predicted.note}" if predicted.note else ""
    message = f"{demand.detail}{forecast}; recommended {demand.replicas}, {current} -> {final}"
    return _finish(observation, history.with_scale(now, final - current), replicas=final,
                   recommended=demand.replicas, reason=reason, message=message,
                   active=_active(True, Reason.VALID_METRICS, "metrics read"), limited=limited)


def _at_zero(observation: Observation, policy: ScalingPolicy, history: History, now: float) -> Decision:
    """At zero only the activator's pending count (or an arrival rate) can wake the service."""
    pending = observation.pending_requests or 0.0
    arriving = (observation.arrival_rate or 0.0) >= IDLE_ARRIVAL_RATE
    if pending <= policy.activation_pending_requests and not arriving:
        idle = history.idle_since if history.idle_since is not None else now
        return _finish(observation, replace(history, idle_since=idle), replicas=0, recommended=0,
                       reason=Reason.SCALED_TO_ZERO,
                       message=f"{pending:g} pending <= activation threshold {policy.activation_pending_requests:g}",
                       active=_active(False, Reason.SCALED_TO_ZERO, "scaled to zero; waiting for requests"),
                       limited=None)
    service = per_request_service_time(observation, policy)
    needed = 1
    if observation.arrival_rate is not None and service is not None:
        needed = replicas_for_queue_sla(observation.arrival_rate, service, policy.queue_latency_target_s,
                                        policy.target_quantile, policy.service_time_cv2)
    wake = min(max(needed, policy.min_replicas, 1), policy.max_replicas)
    ceiling = scale_up_limit(0, history, now, policy.scale_up)
    if ceiling is not None:
        wake = max(1, min(wake, ceiling))  # a percent-only limit of zero pods must still wake
    history = replace(history.with_recommendation(now, wake), idle_since=None).with_scale(now, wake)
    return _finish(observation, history, replicas=wake, recommended=needed, reason=Reason.WOKE_FROM_ZERO,
                   message=f"{pending:g} pending at zero replicas; waking {wake} (cold start ahead)",
                   active=_active(True, Reason.WOKE_FROM_ZERO, "woke from zero"), limited=None)


def _reason(change: int, first: tuple[tuple[bool, str], ...]) -> str:
    """The decision's reason: the predictive floor when it set the count, else the direction of the
    change, else the first of ``first`` (in order) that applies, else within tolerance."""
    if first[0][0] and change >= 0:
        return first[0][1]
    if change:
        return Reason.SCALED_UP if change > 0 else Reason.SCALED_DOWN
    return next((reason for applies, reason in first[1:] if applies), Reason.WITHIN_TOLERANCE)


def _hold_on_failure(observation: Observation, policy: ScalingPolicy, history: History, now: float, *,
                     failure: MetricsFailure, detail: str) -> Decision:
    """Never scale down on bad data; after enough failures apply the fallback, upwards only."""
    current = observation.current_replicas
    failures = history.consecutive_failures + 1
    replicas = max(current, policy.min_replicas)
    in_fallback = failures >= policy.failure_threshold
    if in_fallback and policy.fallback is FallbackMode.FIXED and policy.fallback_replicas is not None:
        replicas = max(replicas, min(policy.fallback_replicas, policy.max_replicas))
    reason = Reason.FALLBACK_ACTIVE if in_fallback else Reason.METRICS_UNAVAILABLE
    message = f"{failure.value}: {detail} ({failures} consecutive); holding {current} -> {replicas}"
    history = replace(history, consecutive_failures=failures, idle_since=None).with_scale(now, replicas - current)
    fallback = ConditionHint(ConditionType.FALLBACK, in_fallback,
                             Reason.FALLBACK_ACTIVE if in_fallback else Reason.METRICS_UNAVAILABLE,
                             f"{failures}/{policy.failure_threshold} consecutive metric failures")
    return Decision(replicas, reason, message, history,
                    (ConditionHint(ConditionType.SCALING_ACTIVE, False, Reason.METRICS_UNAVAILABLE, message),
                     ConditionHint(ConditionType.SCALING_LIMITED, False, Reason.METRICS_UNAVAILABLE, message),
                     fallback),
                    previous_replicas=current, recommended_replicas=current)


def _track_idle(history: History, idle: bool, now: float) -> History:
    if not idle:
        return replace(history, idle_since=None)
    return history if history.idle_since is not None else replace(history, idle_since=now)


def _active(status: bool, reason: str, message: str) -> ConditionHint:
    return ConditionHint(ConditionType.SCALING_ACTIVE, status, reason, message)


def _finish(observation: Observation, history: History, *, replicas: int, recommended: int, reason: str,
            message: str, active: ConditionHint, limited: str | None) -> Decision:
    conditions = (
        active,
        ConditionHint(ConditionType.SCALING_LIMITED, limited is not None, limited or Reason.DESIRED_WITHIN_RANGE,
                      message if limited else "the desired count is within range and rate"),
        ConditionHint(ConditionType.FALLBACK, False, Reason.VALID_METRICS, "metrics are being read"),
    )
    return Decision(replicas, reason, message, history, conditions,
                    previous_replicas=observation.current_replicas, recommended_replicas=recommended,
                    observed_queue_latency_s=observation.queue_latency_s)


def _describe(observation: Observation, service: float | None, capacity: int | None, ratio: float | None,
              target: float) -> str:
    parts = [f"queue {observation.queue_latency_s:.2f}s" if observation.queue_latency_s is not None
             else "queue n/a", f"target {target:g}s"]
    if observation.pending_requests is not None:
        parts.append(f"pending {observation.pending_requests:g}")
    if observation.arrival_rate is not None and service is not None:
        parts.append(f"{observation.arrival_rate:.2f} req/s x {service:.2f}s -> {capacity} replicas")
    if ratio is not None:
        parts.append(f"latency ratio {ratio:.2f}")
    parts.append(f"ready {observation.ready_replicas}/{observation.current_replicas}")
    return ", ".join(parts)

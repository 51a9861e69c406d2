"""The replica decision: a pure function of (observation, policy, history, now), in the HPA's shape.

    signals ─► demand (autoscaling/demand.py) ─► clamp [min, max] ─► wait for starting replicas
            ─► stabilization ─► burst hold ─► predictive floor ─► rate limits

Each step returns the count and, when it moved it, its reason (``Step``), so the reason's precedence
is the order of the steps. The speed tier is decided after the count (``speed_tier.decide_tier``).

Failed or untrustworthy metrics never scale down: the fleet is held (or raised to a fallback) and
failures are counted so the status can show ``Fallback`` after ``policy.failure_threshold`` in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.autoscaling.behavior import scale_down_limit, scale_up_limit, stabilize
from diffusion_operator.autoscaling.bursts import BUCKET_S, burst_floor
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.demand import IDLE_ARRIVAL_RATE, estimate_demand, per_request_service_time
from diffusion_operator.autoscaling.history import History
from diffusion_operator.autoscaling.observation import MetricsFailure, Observation
from diffusion_operator.autoscaling.policy import FallbackMode, ScalingPolicy
from diffusion_operator.autoscaling.predictive import learn_arrivals, predictive_floor
from diffusion_operator.autoscaling.speed_tier import decide_tier, full_steps_service_time, seconds_until_ready


@dataclass(frozen=True)
class ConditionHint:
    """What a condition should say; the status writer owns ``lastTransitionTime``."""

    type: str
    status: bool
    reason: str
    message: str


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


@dataclass(frozen=True)
class Step:
    """One step of the policy, in the HPA's shape: the count after it, and why it moved the count
    (None: it left the count alone)."""

    replicas: int
    reason: str | None = None


def _moved(before: int, after: int, reason: str) -> Step:
    return Step(after, reason if after != before else None)


def _scale(observation: Observation, policy: ScalingPolicy, history: History, now: float) -> Decision:
    """demand -> clamp -> wait for starting pods -> stabilize -> burst hold -> forecast floor -> rate limit."""
    current = observation.current_replicas
    demand = estimate_demand(observation, policy)
    history = _track_idle(history, demand.idle, now)
    if (policy.allows_zero and history.idle_since is not None
            and now - history.idle_since >= policy.scale_to_zero_after_s):
        return _finish(observation, history.with_scale(now, -current), replicas=0,
                       recommended=demand.replicas, reason=Reason.SCALED_TO_ZERO,
                       message=f"idle since {history.idle_since:.0f}; {demand.detail}",
                       active=_active(False, Reason.SCALED_TO_ZERO, "scaled to zero while idle"), limited=None)
    clamp = _clamp(demand.replicas, policy)
    wait = _wait_for_starting(clamp.replicas, observation, policy, history, now)
    history = _remember(history, wait.replicas, current, policy, now)
    stabilized = _moved(wait.replicas, stabilize(wait.replicas, current, history, now, up=policy.scale_up,
                                                 down=policy.scale_down), Reason.STABILIZING)
    predicted = predictive_floor(history, policy, per_request_service_time(observation, policy), now)
    hold = _hold_for_bursts(stabilized.replicas, current, policy, history, now, forecast=predicted.replicas)
    floor, _ = predicted.applied(hold.replicas, current, policy.max_replicas, policy.tolerance)
    forecast = _moved(hold.replicas, floor, Reason.PREDICTIVE_FLOOR)
    rate = _rate_limit(forecast.replicas, current, policy, history, now)
    steps = (clamp, wait, stabilized, hold, forecast, rate)
    final = rate.replicas
    note = f"; {predicted.note}" if predicted.note else ""
    message = f"{demand.detail}{note}; recommended {demand.replicas}, {current} -> {final}"
    return _finish(observation, history.with_scale(now, final - current), replicas=final,
                   recommended=demand.replicas, reason=_reason(current, steps), message=message,
                   active=_active(True, Reason.VALID_METRICS, "metrics read"), limited=rate.reason or clamp.reason)


def _clamp(demand: int, policy: ScalingPolicy) -> Step:
    """Into [min, max] (at least one replica: only the idle rule above goes to zero)."""
    lower, upper = max(policy.min_replicas, 1), policy.max_replicas
    clamped = min(max(demand, lower), upper)
    return _moved(demand, clamped, Reason.AT_MAX_REPLICAS if clamped == upper else Reason.AT_MIN_REPLICAS)


def _wait_for_starting(replicas: int, observation: Observation, policy: ScalingPolicy, history: History,
                       now: float) -> Step:
    """No scale-down while replicas start (they will add capacity), unless they started too long ago."""
    current = observation.current_replicas
    started_long_ago = history.last_scale_time is not None and now - history.last_scale_time > policy.startup_timeout_s
    waiting = observation.starting_replicas > 0 and replicas < current <= policy.max_replicas and not started_long_ago
    return _moved(replicas, current if waiting else replicas, Reason.WAITING_FOR_STARTING_REPLICAS)


def _remember(history: History, recommended: int, current: int, policy: ScalingPolicy, now: float) -> History:
    """This recommendation, for the stabilization window and the burst memory.

    Nothing seen within the window (first evaluation, or the operator was away): the replicas we found
    are the only evidence, so they count as recommended now and a scale-down waits out the window, as
    missing data counts against the change in the HPA. The first rate windows after a start read low
    (counters move on completion): on the benchmark this removed 30-70 misses.
    """
    window = policy.scale_down.stabilization_window_s
    if recommended < current and window > 0 and not any(r.at >= now - window for r in history.recommendations):
        history = history.with_recommendation(now, current)
    return history.with_recommendation(now, recommended)


def _hold_for_bursts(replicas: int, current: int, policy: ScalingPolicy, history: History, now: float, *,
                     forecast: int | None) -> Step:
    """Scale-down stops at what the latest burst needed (autoscaling/bursts.py). A trusted forecast
    knows when the next burst comes; the burst memory only guesses that one will, so it yields."""
    if replicas >= current or policy.burst_memory_s <= 0 or forecast is not None:
        return Step(replicas)
    floor = burst_floor(history.recommendations, now, growth=policy.burst_growth, hold_gaps=policy.burst_hold_gaps)
    if floor is None or min(floor, current) <= replicas:
        return Step(replicas)
    return Step(min(floor, current), Reason.HOLDING_FOR_BURSTS)


def _rate_limit(replicas: int, current: int, policy: ScalingPolicy, history: History, now: float) -> Step:
    """The HPA's behavior policies: at most so many pods (or percent) per period, in each direction."""
    limited = replicas
    if replicas > current:
        ceiling = scale_up_limit(current, history, now, policy.scale_up)
        limited = replicas if ceiling is None else min(replicas, ceiling)
    elif replicas < current:
        floor = scale_down_limit(current, history, now, policy.scale_down)
        limited = replicas if floor is None else max(replicas, floor)
    return _moved(replicas, limited, Reason.RATE_LIMITED)


def _reason(current: int, steps: tuple[Step, ...]) -> str:
    """The decision's reason: precedence is the order of the steps (a later limit names the count).

    The predictive floor names any count it raised that does not go down (it is why replicas are
    added or kept); otherwise a change is ScaledUp/ScaledDown, and an unchanged count is named by the
    last step that moved it, or is within tolerance.
    """
    final = steps[-1].replicas
    moved = [step.reason for step in steps if step.reason is not None]
    if Reason.PREDICTIVE_FLOOR in moved and final >= current:
        return Reason.PREDICTIVE_FLOOR
    if final != current:
        return Reason.SCALED_UP if final > current else Reason.SCALED_DOWN
    return moved[-1] if moved else Reason.WITHIN_TOLERANCE


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

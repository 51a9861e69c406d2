"""How many replicas the signals ask for, before any policy limit: the first step of the decision.

The capacity model (arrival rate x service time -> Erlang C at the SLA quantile) sizes for the target
directly; a pending backlog beyond the target adds enough replicas to work it off; the measured queue
latency feeds the HPA's ratio, trusted only as far as the backlog confirms it. Split from
``decision`` so that the policy's steps (clamp, wait, stabilize, hold, forecast, rate limit) read
apart from the estimate they limit. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.observation import Observation
from diffusion_operator.autoscaling.policy import ScalingPolicy

# Below this arrival rate (requests/s) and with nothing pending the service counts as idle.
IDLE_ARRIVAL_RATE = 1e-3


@dataclass(frozen=True)
class Demand:
    """How many replicas the signals ask for, before any policy limits, and why."""

    replicas: int
    capacity_replicas: int | None
    latency_ratio: float | None
    idle: bool
    detail: str


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

"""The autoscaler's part of the status, from its decision (pure: ``now`` is an argument).

The autoscaler is the one writer of ``status.autoscaling``, ``status.queue`` and the conditions
ScalingActive, ScalingLimited and Fallback; the lifecycle reconcile never touches them. It writes the
count itself only to the Deployment: ``status.desiredReplicas`` is the lifecycle's, read back from
the Deployment it scaled (its update wakes the lifecycle reconcile).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from diffusion_operator.api.conditions import set_condition
from diffusion_operator.api.durations import format_duration
from diffusion_operator.api.status import (
    AutoscalerMemory,
    AutoscalingStatus,
    ColdStartStatus,
    DiffusionServiceStatus,
    queue_text,
)
from diffusion_operator.autoscaling import Decision
from diffusion_operator.autoscaling.cold_start import ColdStart


def scaling_status(old: DiffusionServiceStatus, decision: Decision, *, target: timedelta, generation: int,
                   now: datetime, cold_start: ColdStart | None = None) -> DiffusionServiceStatus:
    """The status after ``decision``; ``cold_start`` replaces the measured cold start (None keeps it)."""
    conditions = list(old.conditions)
    for hint in decision.conditions:
        conditions = set_condition(conditions, type=hint.type, status="True" if hint.status else "False",
                                   reason=hint.reason, message=hint.message[:4096],
                                   observed_generation=generation, now=now)
    observed = None if decision.observed_queue_latency_s is None else timedelta(
        seconds=decision.observed_queue_latency_s)
    previous = old.autoscaling or AutoscalingStatus()
    last_scale = previous.last_scale_time
    if decision.changes_replicas:
        last_scale = now
    autoscaling = AutoscalingStatus(
        observed_queue_latency=format_duration(observed) if observed is not None else None,
        last_scale_time=last_scale,
        last_decision_reason=f"{decision.reason}: {decision.message}"[:256],
        history=AutoscalerMemory.model_validate(decision.history.to_dict()),
        cold_start=previous.cold_start if cold_start is None or not cold_start.samples
        else ColdStartStatus.model_validate(cold_start.to_dict()),
    )
    return old.model_copy(update={
        "conditions": conditions,
        "queue": queue_text(observed, target),
        "autoscaling": autoscaling,
    })


def epoch(now: datetime) -> float:
    """The autoscaler's history keeps epoch seconds (it must survive restarts, unlike a monotonic clock)."""
    return now.astimezone(UTC).timestamp()

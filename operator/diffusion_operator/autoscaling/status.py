"""The autoscaler's part of the status, from its decision and from what its writes did (pure).

The autoscaler is the one writer of ``status.autoscaling``, ``status.queue`` and the conditions
ScalingActive, ScalingLimited, Fallback, SpeedTier and AbleToScale; the lifecycle reconcile never
touches them. It writes the count itself only to the Deployment: ``status.desiredReplicas`` is the
lifecycle's, read back from the Deployment it scaled (its update wakes the lifecycle reconcile).

AbleToScale is the HPA's condition: False with ``FailedUpdateScale`` when the API server refused the
count (quota, RBAC, admission, conflict), and the same for the pods' deletion costs and the speed
tier, with the refusal in the message; True again on the next tick whose writes all land. A refusal
is also a Warning Event (``FailedRescale`` for the count, as the HPA posts), once per transition so a
lasting refusal does not post one every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from diffusion_operator.api.conditions import ConditionStatus, ConditionType, Reason, find_condition, set_condition
from diffusion_operator.api.durations import format_duration
from diffusion_operator.api.status import (
    AutoscalerMemory,
    AutoscalingStatus,
    ColdStartStatus,
    DiffusionServiceStatus,
    queue_text,
)
from diffusion_operator.autoscaling.cold_start import ColdStart
from diffusion_operator.autoscaling.decision import Decision
from diffusion_operator.autoscaling.history import History

#: The Warning Event's reason for each refused write (the condition's reason is the write's own).
EVENT_REASONS = {Reason.FAILED_UPDATE_SCALE: Reason.FAILED_RESCALE}


@dataclass(frozen=True)
class WriteFailure:
    """A write the API server (or a Triton pod) refused: ``reason`` names which write
    (``Reason.FAILED_UPDATE_SCALE`` ...), ``detail`` says what was refused and why, as the API said it."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Notice:
    """An Event the tick posts on the service (the same shape as the reconcile's ``EventNote``)."""

    type: str  # Normal | Warning
    reason: str
    message: str


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


def after_writes(planned: DiffusionServiceStatus, before: DiffusionServiceStatus, failures: tuple[WriteFailure, ...],
                 *, generation: int, now: datetime) -> tuple[DiffusionServiceStatus, tuple[Notice, ...]]:
    """The planned status with AbleToScale from what the writes did, and the Warning Events to post.

    A refused count did not change the fleet: the last scale time and the history's record of the
    change are the ones from ``before``, so the rate limits do not count a change that never happened
    and the next tick tries again.
    """
    if any(f.reason == Reason.FAILED_UPDATE_SCALE for f in failures):
        planned = _unscaled(planned, before)
    status: ConditionStatus = "False" if failures else "True"
    if failures:
        reason, message = failures[0].reason, "; ".join(f.detail for f in failures)
    else:
        reason, message = Reason.READY_FOR_NEW_SCALE, "the autoscaler's last writes succeeded"
    conditions = set_condition(list(planned.conditions), type=ConditionType.ABLE_TO_SCALE, status=status,
                               reason=reason, message=message[:4096], observed_generation=generation, now=now)
    was = find_condition(before.conditions, ConditionType.ABLE_TO_SCALE)
    news = was is None or was.status != status or was.reason != reason
    notices = tuple(Notice("Warning", EVENT_REASONS.get(f.reason, f.reason), f.detail[:1024])
                    for f in failures) if news else ()
    return planned.model_copy(update={"conditions": conditions}), notices


def _unscaled(planned: DiffusionServiceStatus, before: DiffusionServiceStatus) -> DiffusionServiceStatus:
    autoscaling = planned.autoscaling
    if autoscaling is None or autoscaling.history is None:
        return planned
    old_history, history = history_of(before), history_of(planned)
    kept = replace(history, scale_events=tuple(e for e in history.scale_events if e in old_history.scale_events),
                   last_scale_time=old_history.last_scale_time)
    return planned.model_copy(update={"autoscaling": autoscaling.model_copy(update={
        "history": AutoscalerMemory.model_validate(kept.to_dict()),
        "last_scale_time": before.autoscaling.last_scale_time if before.autoscaling else None,
    })})


def history_of(status: DiffusionServiceStatus) -> History:
    """The decision's memory as the status keeps it (``AutoscalerMemory`` is ``History.to_dict()``)."""
    autoscaling = status.autoscaling
    return History.from_dict(autoscaling.history.model_dump(by_alias=True)
                             if autoscaling and autoscaling.history else None)


def cold_start_of(status: DiffusionServiceStatus) -> ColdStart:
    """The measured cold start as the status keeps it (``ColdStartStatus`` is ``ColdStart.to_dict()``)."""
    autoscaling = status.autoscaling
    return ColdStart.from_dict(autoscaling.cold_start.model_dump()
                               if autoscaling and autoscaling.cold_start else None)


def epoch(now: datetime) -> float:
    """The autoscaler's history keeps epoch seconds (it must survive restarts, unlike a monotonic clock)."""
    return now.astimezone(UTC).timestamp()

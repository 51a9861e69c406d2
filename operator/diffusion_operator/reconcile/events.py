"""The Events a reconcile posts: one per condition transition worth telling, and one per rollback.

Pure: the decision lists them as ``EventNote``s, the shell posts them on the object.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusion_operator.api.conditions import START_PROBLEMS, Condition, ConditionType, Reason
from diffusion_operator.api.status import RollbackStatus

#: Reasons that deserve a Warning Event rather than a Normal one (a pod that cannot start among them:
#: ``Ready`` carries ``Available``'s reason while it is False).
WARNING_REASONS = frozenset({
    Reason.BUILD_FAILED, Reason.BUILD_TIMED_OUT, Reason.BUILD_WONT_FIT, Reason.BUILD_OOM_KILLED,
    Reason.SECRET_NOT_FOUND,
    Reason.REPLICAS_UNAVAILABLE, Reason.RECONCILE_ERROR, Reason.ROLLED_BACK, *START_PROBLEMS,
    Reason.QUALITY_GATE_FAILED, Reason.QUALITY_GATE_UNAVAILABLE, Reason.MIN_STEPS_BELOW_QUALITY_FLOOR,
})


@dataclass(frozen=True)
class EventNote:
    type: str  # Normal | Warning
    reason: str
    message: str


#: Conditions whose transitions are worth an Event; Available and Progressing only echo these.
EVENT_CONDITIONS = frozenset({ConditionType.READY, ConditionType.ENGINE_READY, ConditionType.DEGRADED,
                              ConditionType.STEPS_QUALITY})
#: Conditions announced on first appearance only when they bring bad news (Degraded=True, StepsQuality=False).
QUIET_WHEN_HEALTHY = {ConditionType.DEGRADED: "True", ConditionType.STEPS_QUALITY: "False"}


def transition_events(before: list[Condition], after: list[Condition]) -> list[EventNote]:
    """One Event per condition whose status or reason changed (what `kubectl describe` should tell)."""
    previous = {c.type: (c.status, c.reason) for c in before}
    notes = []
    for cond in after:
        if cond.type not in EVENT_CONDITIONS:
            continue
        if cond.type not in previous:  # first time: announce all but a healthy Degraded or StepsQuality
            if QUIET_WHEN_HEALTHY.get(cond.type, cond.status) == cond.status:
                notes.append(_note(cond))
            continue
        before_status, before_reason = previous[cond.type]
        flipped = before_status != cond.status
        # A new reason while still False is news for Ready/EngineReady (BuildPending -> BuildFailed);
        # for Degraded only a flip is.
        reason_news = cond.type != ConditionType.DEGRADED and before_reason != cond.reason
        if flipped or reason_news:
            notes.append(_note(cond))
    return notes


def _note(cond: Condition) -> EventNote:
    # Degraded is the one condition whose True is the bad news.
    bad = cond.status == "True" if cond.type == ConditionType.DEGRADED else cond.status != "True"
    kind = "Warning" if cond.reason in WARNING_REASONS and bad else "Normal"
    return EventNote(kind, cond.reason, f"{cond.type}={cond.status}: {cond.message}"[:1024])


def with_rollback_event(events: list[EventNote], rollback: RollbackStatus | None) -> list[EventNote]:
    """A rollback is always worth an Event, even when Degraded was already True (no flip to report)."""
    if rollback is None or any(note.reason == Reason.ROLLED_BACK for note in events):
        return events
    return [*events, EventNote("Warning", Reason.ROLLED_BACK, rollback.message)]

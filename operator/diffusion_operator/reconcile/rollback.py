"""When to undo a rollout: its new pods cannot run, and the previous revision's pods still serve.

A new engine whose repository Triton cannot load, a server image that crash-loops or cannot be
pulled, a GPU count no node can hold: each shows as pods of the newest ReplicaSet that never become
ready. The Deployment's surge (maxUnavailable 0) keeps the old pods serving meanwhile, but the
rollout would stay stuck forever. After ``grace`` the operator restores the previous revision's
template (what ``kubectl rollout undo`` does) and remembers the generation it gave up on, so the
next reconcile does not re-apply the same broken template; any spec edit tries again.

Pure: ``now`` is an argument; the shell applies the template and writes the status.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from diffusion_operator.api.status import RollbackStatus
from diffusion_operator.reconcile.observation import PreviousRevision, RolloutState

#: How long a new revision's pods may fail before the rollout is undone (DIFFUSION_ROLLBACK_AFTER_SECONDS).
DEFAULT_GRACE = timedelta(minutes=2)


def active_rollback(previous: RollbackStatus | None, generation: int) -> RollbackStatus | None:
    """The rollback that still holds: the one made for the spec generation the object has now."""
    return previous if previous is not None and previous.generation == generation else None


def rollback_target(rollout: RolloutState | None, now: datetime, grace: timedelta) -> PreviousRevision | None:
    """The revision to restore, or None while the rollout may still succeed (or nothing can serve)."""
    if rollout is None or rollout.problem is None or rollout.problem_since is None or grace <= timedelta(0):
        return None
    previous = rollout.previous
    if previous is None or previous.ready_replicas < 1:
        return None  # nothing healthy to go back to: undoing would only trade one outage for another
    if now - rollout.problem_since < grace:
        return None
    return previous


def new_rollback(rollout: RolloutState, target: PreviousRevision, generation: int, now: datetime) -> RollbackStatus:
    problem = rollout.problem.message if rollout.problem is not None else "no pod ready"
    message = (f"revision {rollout.revision} never became ready ({problem}); "
               f"restored revision {target.revision}")
    return RollbackStatus(generation=generation, from_revision=rollout.revision, to_revision=target.revision,
                          cache_key=target.serving_key, message=message[:1024], time=now)


def seconds_until_rollback(rollout: RolloutState | None, now: datetime, grace: timedelta) -> float | None:
    """How long until a stuck rollout's grace runs out, so the shell can look again exactly then.

    Pod status changes raise no Deployment event; without this the rollback would wait for the
    slow resync timer instead of happening ``grace`` after the pods started failing.
    """
    if rollout is None or rollout.problem is None or rollout.problem_since is None or grace <= timedelta(0):
        return None
    if rollout.previous is None or rollout.previous.ready_replicas < 1:
        return None
    left = (grace - (now - rollout.problem_since)).total_seconds()
    return left + 1.0 if left > 0 else None

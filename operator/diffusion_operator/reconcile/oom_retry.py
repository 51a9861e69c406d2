"""An OOMKilled build: what the status tells the user, and when the operator builds again by itself.

The build Job is named after the cache key, and ``spec.engine.buildResources`` is not in the key (a
build's resources do not change what it builds): raising them leaves the failed Job of the same key in
place, and a Job's pod template cannot be changed. So the operator deletes the failed Job once the
memory it would now give a build is more than the OOMKilled pod had, and the next reconcile (woken by
the Job's deletion) creates the Job anew with the new resources, as for any missing build.

Pure: ``oom_retry`` is the one decider; ``reconcile.decide`` reports it, ``k8s.children`` deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from diffusion_operator.api.quantity import gib_text, parse_quantity
from diffusion_operator.engines.build_resources import BuildResources
from diffusion_operator.reconcile.observation import JobState, OomKill

#: The Job condition reason of a build stopped by ``activeDeadlineSeconds``: reported as a timeout
#: (``BuildTimedOut``) even when a try before was OOMKilled, so more memory is not its remedy.
DEADLINE_EXCEEDED = "DeadlineExceeded"


def _limit_text(quantity: str) -> str:
    return f"{gib_text(parse_quantity(quantity))} ({quantity})"


def oom_had(oom: OomKill) -> str:
    """What killed the build pod, with the limit it had, in words."""
    if oom.memory_limit is None:
        return f"build pod {oom.pod} was OOMKilled with no memory limit: its node ran out of memory"
    return f"build pod {oom.pod} was OOMKilled at its memory limit of {_limit_text(oom.memory_limit)}"


def oom_message(job_name: str, oom: OomKill) -> str:
    """``BuildOOMKilled``'s message: what the build had and what to change. Nothing else is needed: a
    memory limit above the one it had is a new try (``oom_retry``); the same one would fail the same way."""
    return (f"Job {job_name}: {oom_had(oom)}; raise spec.engine.buildResources (limits.memory and "
            f"requests.memory) and the operator builds again")


@dataclass(frozen=True)
class OomRetry:
    """Delete the failed build Job ``job_name`` so that the next reconcile builds with ``new_limit``."""

    job_name: str
    #: The failed Job's uid: the deletion is conditional on it, so a Job another user of the shared
    #: build created since (same name, new uid) is never deleted by a reconcile that saw the old one.
    job_uid: str | None
    oom: OomKill
    #: The memory limit a build gets now (``BuildResources.memory_limit``).
    new_limit: str

    @property
    def message(self) -> str:
        """``BuildRetried``'s message, naming the old limit and the new one."""
        return (f"Job {self.job_name}: {oom_had(self.oom)}; a build now gets a memory limit of "
                f"{_limit_text(self.new_limit)}, so the operator deleted the Job to build again")


def _bytes(quantity: str) -> Decimal | None:
    try:
        return parse_quantity(quantity)
    except ValueError:
        return None


def oom_retry(job: JobState, build: BuildResources) -> OomRetry | None:
    """Whether to delete the desired key's failed Job and build again, given the resources a build gets now.

    Only a Job reported as ``BuildOOMKilled`` qualifies: failed, its newest try OOMKilled, and not past
    its deadline (that is ``BuildTimedOut``, which memory does not cure). It is retried when
    ``build``'s memory limit is more than the OOMKilled pod's; the same or less would be killed again,
    after up to an hour on a GPU, so that Job stays failed and keeps saying what to raise. A limit that
    cannot be read is never taken for a raise.

    A pod with *no* limit (a Job made by an operator before the limits, or by hand) ran out of its
    node's memory; any limit counts as raised there, as a bounded build is a new situation: its request
    reserves that memory on its node (the unbounded pod's did not), and past it the kernel kills the
    build, not its neighbours. That retry happens at most once: the new Job has a limit, so a second
    OOM kill needs a real raise.
    """
    oom = job.oom_killed
    if job.phase != "Failed" or oom is None or job.reason == DEADLINE_EXCEEDED:
        return None
    new = _bytes(build.memory_limit)
    if new is None:
        return None
    if oom.memory_limit is not None:
        had = _bytes(oom.memory_limit)
        if had is None or new <= had:
            return None
    return OomRetry(job_name=job.name, job_uid=job.uid, oom=oom, new_limit=build.memory_limit)

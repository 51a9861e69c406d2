"""What the operator saw of a DiffusionService's children, as plain immutable data.

The parsers here turn API objects (dicts) into these types; they are pure so that every corner of
Job and Deployment status (deadline exceeded, backoff, progress deadline) has a table test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from diffusion_operator.api.conditions import CONTAINER_START_PROBLEMS, Reason
from diffusion_operator.reconcile.build_fit import BuildNodes

JobPhase = Literal["Missing", "Pending", "Running", "Succeeded", "Failed"]

#: The Job's pods write one JSON line as their termination message (engine-builder's summary).
MAX_MESSAGE_CHARS = 1024


@dataclass(frozen=True)
class OomKill:
    """A build container the kernel killed for outgrowing its memory limit (the kubelet's ``OOMKilled``)."""

    pod: str
    #: The container's memory limit as its pod spec had it (e.g. ``16487Mi``); None: it had none, so
    #: the node itself ran out of memory.
    memory_limit: str | None


@dataclass(frozen=True)
class JobState:
    name: str
    phase: JobPhase
    started_at: datetime | None = None
    completed_at: datetime | None = None
    #: Job condition reason on failure: BackoffLimitExceeded, DeadlineExceeded, ...
    reason: str | None = None
    message: str | None = None
    #: The builder's JSON summary (from the pod's termination message), when it wrote one.
    summary: dict[str, Any] = field(default_factory=dict)
    #: uids of the DiffusionServices that own this (shared) build.
    owner_uids: frozenset[str] = frozenset()
    #: The Job's resourceVersion when observed: joining its owners is conditional on it (MAX_BUILD_OWNERS).
    resource_version: str | None = None
    #: The Job's uid: deleting it for a rebuild is conditional on it (never a newer Job of the same name).
    uid: str | None = None
    #: Set when the newest finished try of the build was OOMKilled.
    oom_killed: OomKill | None = None

    @property
    def duration_s(self) -> float | None:
        """Start to completion, once both are known."""
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class PodProblem:
    """Why a Triton pod cannot become ready until a person acts."""

    #: One of ``api.conditions.START_PROBLEMS``: what ``Available`` says, and what the activator matches.
    reason: str
    #: The kubelet's or the scheduler's own words, naming the pod, e.g. "ImagePullBackOff in pod p: ...".
    message: str


@dataclass(frozen=True)
class DeploymentState:
    name: str
    exists: bool
    serving_key: str | None = None
    spec_replicas: int | None = None
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    available: bool = False
    rollout_complete: bool = False
    progress_deadline_exceeded: bool = False
    #: Why pods are not ready, e.g. an image that cannot be pulled or a crash loop (from pods).
    pod_problem: PodProblem | None = None
    #: The operator's hash of the manifest it last applied (skip no-op writes).
    applied_hash: str | None = None


@dataclass(frozen=True)
class PreviousRevision:
    """The ReplicaSet a stuck rollout would fall back to (what ``kubectl rollout undo`` restores)."""

    revision: int
    #: Its pod template, as the Deployment's template would carry it (no pod-template-hash label).
    template: dict[str, Any]
    serving_key: str | None
    ready_replicas: int


@dataclass(frozen=True)
class RolloutState:
    """An unfinished rollout: how the newest revision's pods fare, and what served before it."""

    revision: int
    #: Why pods of the newest revision cannot run (crash loop, image pull, unschedulable), if they cannot.
    problem: PodProblem | None = None
    #: When the oldest such pod was created: the problem has lasted at least since then.
    problem_since: datetime | None = None
    previous: PreviousRevision | None = None


@dataclass(frozen=True)
class Observation:
    desired_job: JobState
    #: The Job of the key the Deployment serves now, when that differs from the desired key.
    serving_job: JobState | None
    deployment: DeploymentState
    secret_missing: str | None = None
    service_monitor_supported: bool = False
    now: datetime | None = None
    #: Set only while a rollout is unfinished (ReplicaSets are read only then).
    rollout: RolloutState | None = None
    #: Whether the activator's Deployment exists (the service scales, or scaled, to zero).
    activator_exists: bool = False
    #: The GPU pool's nodes, when the build Job is missing and they could be read; None otherwise.
    build_nodes: BuildNodes | None = None


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _terminated(status: Mapping[str, Any]) -> dict[str, Any]:
    """A container's current termination, else its last one (a container restarted in place)."""
    return dict((status.get("state") or {}).get("terminated")
                or (status.get("lastState") or {}).get("terminated") or {})


def oom_killed(pods: list[dict[str, Any]]) -> OomKill | None:
    """The newest terminated container, when the kernel killed it for memory, with the limit it had.

    Only the newest counts: a retry that got past an earlier OOM (a node that was busier) failed for
    its own reason, which the termination message tells.
    """
    newest: tuple[str, dict[str, Any], dict[str, Any], str] | None = None
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = _terminated(status)
            stamp = str(terminated.get("finishedAt") or "")
            if terminated and (newest is None or stamp > newest[0]):
                newest = (stamp, pod, terminated, str(status.get("name")))
    if newest is None or newest[2].get("reason") != "OOMKilled":
        return None
    _, pod, _, container = newest
    containers = (pod.get("spec") or {}).get("containers") or []
    spec: dict[str, Any] = next((c for c in containers if c.get("name") == container), {})
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    return OomKill(pod=str((pod.get("metadata") or {}).get("name")), memory_limit=None if limit is None else str(limit))


def termination_summary(pods: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The builder's JSON summary and/or raw message from the newest terminated container."""
    newest: tuple[str, str] | None = None
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = _terminated(status)
            message = terminated.get("message")
            if message:
                stamp = str(terminated.get("finishedAt") or "")
                if newest is None or stamp > newest[0]:
                    newest = (stamp, str(message))
    if newest is None:
        return {}, None
    raw = newest[1].strip()
    last_line = raw.splitlines()[-1] if raw else ""
    try:
        parsed = json.loads(last_line)
        if isinstance(parsed, dict):
            return parsed, str(parsed.get("message") or parsed.get("error") or "")[:MAX_MESSAGE_CHARS] or None
    except ValueError:
        pass
    return {}, raw[-MAX_MESSAGE_CHARS:]


def job_state(name: str, job: dict[str, Any] | None, pods: list[dict[str, Any]]) -> JobState:
    if job is None:
        return JobState(name=name, phase="Missing")
    status = job.get("status") or {}
    summary, message = termination_summary(pods)
    oom = oom_killed(pods)
    started = _as_datetime(status.get("startTime"))
    meta = job.get("metadata") or {}
    owners = frozenset(str(ref.get("uid")) for ref in meta.get("ownerReferences") or [])
    version = meta.get("resourceVersion")
    uid = None if meta.get("uid") is None else str(meta["uid"])
    if (done := _condition(job, "Complete")) is not None:
        return JobState(name, "Succeeded", started, _as_datetime(status.get("completionTime")
                                                              or done.get("lastTransitionTime")),
                        summary=summary, message=message, owner_uids=owners,
                        resource_version=version, uid=uid)
    if (failed := _condition(job, "Failed")) is not None:
        return JobState(name, "Failed", started, _as_datetime(failed.get("lastTransitionTime")),
                        reason=failed.get("reason"),
                        message=message or failed.get("message"), summary=summary, owner_uids=owners,
                        resource_version=version, uid=uid, oom_killed=oom)
    phase: JobPhase = "Running" if status.get("active") else "Pending"
    return JobState(name, phase, started, summary=summary, message=message, owner_uids=owners,
                    resource_version=version, uid=uid, oom_killed=oom)


def pod_problem(pods: list[dict[str, Any]]) -> PodProblem | None:
    """The first reason a pod cannot become ready that a user must act on, as a condition reason."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if (reason := CONTAINER_START_PROBLEMS.get(str(waiting.get("reason")))) is not None:
                pod_name = (pod.get("metadata") or {}).get("name")
                detail = f"{waiting['reason']} in pod {pod_name}: {waiting.get('message') or ''}"
                return PodProblem(reason, detail.strip())
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                    and cond.get("reason") == "Unschedulable":
                pod_name = (pod.get("metadata") or {}).get("name")
                detail = f"Unschedulable pod {pod_name}: {cond.get('message') or ''}"
                return PodProblem(Reason.UNSCHEDULABLE, detail.strip())
    return None


def deployment_state(name: str, deployment: dict[str, Any] | None, pods: list[dict[str, Any]],
                     key_annotation: str, hash_annotation: str = "") -> DeploymentState:
    if deployment is None:
        return DeploymentState(name=name, exists=False)
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    template_meta = ((spec.get("template") or {}).get("metadata") or {})
    serving_key = (template_meta.get("annotations") or {}).get(key_annotation)
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available_replicas = int(status.get("availableReplicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= int((deployment.get("metadata") or {})
                                                                  .get("generation") or 0)
    progressing = None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing":
            progressing = cond
    return DeploymentState(
        name=name,
        exists=True,
        serving_key=serving_key,
        spec_replicas=spec.get("replicas"),
        replicas=replicas,
        ready_replicas=int(status.get("readyReplicas") or 0),
        updated_replicas=updated,
        available=_condition(deployment, "Available") is not None,
        rollout_complete=observed and updated == want and replicas == want and available_replicas == want,
        progress_deadline_exceeded=bool(progressing and progressing.get("reason") == "ProgressDeadlineExceeded"),
        pod_problem=pod_problem(pods),
        applied_hash=((deployment.get("metadata") or {}).get("annotations") or {}).get(hash_annotation),
    )


REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"


def _revision(obj: dict[str, Any]) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    return int(value) if value is not None and str(value).isdigit() else 0


def rollout_state(deployment: dict[str, Any], replica_sets: list[dict[str, Any]], pods: list[dict[str, Any]],
                  key_annotation: str) -> RolloutState:
    """The newest revision's pod problem (oldest first) and the revision to fall back to.

    Only pods of the newest ReplicaSet count: the old ones serving fine must not hide a new pod that
    crash-loops, and an old pod's problem is not the new revision's fault.
    """
    revision = _revision(deployment)
    newest = next((rs for rs in replica_sets if _revision(rs) == revision), None)
    new_hash = ((newest or {}).get("metadata") or {}).get("labels", {}).get(POD_TEMPLATE_HASH)
    failing = sorted(
        (pod for pod in pods
         if new_hash and ((pod.get("metadata") or {}).get("labels") or {}).get(POD_TEMPLATE_HASH) == new_hash
         and pod_problem([pod])),
        key=lambda pod: str((pod.get("metadata") or {}).get("creationTimestamp") or ""),
    )
    older = [rs for rs in replica_sets if 0 < _revision(rs) < revision]
    serving = [rs for rs in older if int((rs.get("status") or {}).get("readyReplicas") or 0) > 0]
    previous = None
    if older:
        # The newest revision whose pods still serve (an intermediate revision may be broken too).
        rs = max(serving or older, key=_revision)
        template = json.loads(json.dumps((rs.get("spec") or {}).get("template") or {}))
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(POD_TEMPLATE_HASH, None)
        previous = PreviousRevision(
            revision=_revision(rs),
            template=template,
            serving_key=((template.get("metadata") or {}).get("annotations") or {}).get(key_annotation),
            ready_replicas=int((rs.get("status") or {}).get("readyReplicas") or 0),
        )
    return RolloutState(
        revision=revision,
        problem=pod_problem(failing[:1]) if failing else None,
        problem_since=_as_datetime((failing[0].get("metadata") or {}).get("creationTimestamp")) if failing else None,
        previous=previous,
    )

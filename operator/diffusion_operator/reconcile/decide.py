"""The reconcile decision: from a service and what was observed, what should exist and what to report.

Pure: no clock (``now`` is an argument), no API calls. The shell (handlers/lifecycle.py) observes,
calls ``decide``, then ``children.desired_children`` for what to apply, applies it (k8s/children.py)
and writes the status.

Zero-downtime engine switches come from one rule: the Deployment serves the newest key whose build
has *succeeded*. While a new key builds (or if it fails) the old engines keep serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from diffusion_operator.api.conditions import Condition, ConditionStatus, ConditionType, Reason, set_condition
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import (
    DiffusionServiceStatus,
    Endpoints,
    EngineStatus,
    derive_phase,
    ready_text,
)
from diffusion_operator.engines.build_resources import BuildResources
from diffusion_operator.reconcile.build_fit import BuildFit, build_fit
from diffusion_operator.reconcile.events import EventNote, transition_events, with_rollback_event
from diffusion_operator.reconcile.observation import JobState, Observation
from diffusion_operator.reconcile.oom_retry import OomRetry, oom_had, oom_message, oom_retry
from diffusion_operator.reconcile.owners import joins_build_owners
from diffusion_operator.reconcile.quality import published_note, quality_from_summary, refused_build, steps_quality
from diffusion_operator.reconcile.rollback import (
    DEFAULT_GRACE,
    active_rollback,
    new_rollback,
    rollback_target,
    seconds_until_rollback,
)
from diffusion_operator.render.replicas import ReplicaOwnership, replica_ownership


@dataclass(frozen=True)
class Decision:
    cache_key: str
    #: Create the build Job (with its plan ConfigMap and the cache claim) for ``cache_key``.
    build_engine: bool
    #: Add this service as an owner of an existing (shared) build, so garbage collection counts it.
    adopt_build: bool
    #: The key the Deployment serves; None while no build has ever succeeded for this service.
    serving_key: str | None
    #: Who writes the Deployment's ``spec.replicas`` (the spec's count, or the autoscaler), decided once.
    replica_ownership: ReplicaOwnership
    status: DiffusionServiceStatus
    #: What the build Job asks for (checked against the pool's nodes before ``build_engine`` is set).
    build: BuildResources
    events: list[EventNote] = field(default_factory=list)
    #: Restore this pod template on the Deployment now (a stuck rollout is undone).
    rollback_template: dict[str, Any] | None = None
    #: A rollback holds for this generation: leave the Deployment's template as it is.
    hold_template: bool = False
    #: Reconcile again after this many seconds (a stuck rollout's grace ends then); None: on events only.
    requeue_after: float | None = None
    #: Delete the desired key's failed Job first: it was OOMKilled under less memory than a build gets
    #: now. Its deletion wakes the next reconcile, which builds again (``build_engine`` is False meanwhile).
    oom_retry: OomRetry | None = None


def _engine_condition(job: JobState, secret_missing: str | None, fit: BuildFit,
                      retry: OomRetry | None) -> tuple[ConditionStatus, str, str]:
    if secret_missing:
        return "False", Reason.SECRET_NOT_FOUND, secret_missing
    if not fit.fits:
        return "False", Reason.BUILD_WONT_FIT, fit.message
    if retry is not None:
        return "False", Reason.BUILD_RETRIED, retry.message
    if job.phase == "Succeeded":
        return "True", Reason.ENGINE_BUILT, f"engines published by Job {job.name}"
    if (refused := refused_build(job)) is not None:
        return refused
    if job.phase == "Failed":
        if job.reason == "DeadlineExceeded":
            return "False", Reason.BUILD_TIMED_OUT, f"Job {job.name} exceeded spec.engine.buildTimeout"
        if job.oom_killed is not None:
            return "False", Reason.BUILD_OOM_KILLED, oom_message(job.name, job.oom_killed)
        detail = job.message or job.reason or "build failed"
        return "False", Reason.BUILD_FAILED, f"Job {job.name} failed: {detail}"
    if job.phase == "Running":
        again = f" again: the last try's {oom_had(job.oom_killed)}" if job.oom_killed else ""
        return "False", Reason.BUILDING, f"Job {job.name} is building the engines{again}"
    return "False", Reason.BUILD_PENDING, f"Job {job.name} is waiting to start"


def _engine_state(job: JobState) -> str:
    return {"Missing": "Pending", "Pending": "Pending", "Running": "Building"}.get(job.phase, job.phase)


def serving_key_for(desired_key: str, obs: Observation) -> str | None:
    """The newest key with published engines: the desired one once built, else what serves now."""
    if obs.desired_job.phase == "Succeeded":
        return desired_key
    current = obs.deployment.serving_key if obs.deployment.exists else None
    if current and (obs.serving_job is None or obs.serving_job.phase != "Failed"):
        return current
    return None


def _desired_replicas(service: DiffusionService, obs: Observation, rendered: int | None) -> int:
    """The count the owner of replicas asked for: the spec's, or the autoscaler's (on the Deployment)."""
    if rendered is not None:
        return rendered
    if obs.deployment.spec_replicas is not None:
        return obs.deployment.spec_replicas
    if service.status.desired_replicas is not None:
        return service.status.desired_replicas
    return service.spec.autoscaling.min_replicas


Verdict = tuple[ConditionStatus, str, str]


def _available(obs: Observation, serving_key: str | None, desired: int) -> Verdict:
    deployment = obs.deployment
    if serving_key is None or not deployment.exists:
        return "False", Reason.WAITING_FOR_ENGINE, "no engine has been published yet"
    if desired == 0:
        return "False", Reason.SCALED_TO_ZERO, "scaled to zero replicas"
    if deployment.available and deployment.ready_replicas > 0:
        return "True", Reason.MINIMUM_REPLICAS_AVAILABLE, f"{deployment.ready_replicas}/{desired} Triton pods ready"
    if (problem := deployment.pod_problem) is not None:
        return "False", problem.reason, problem.message
    return "False", Reason.REPLICAS_UNAVAILABLE, f"{deployment.ready_replicas}/{desired} Triton pods ready"


def _progressing(obs: Observation, cache_key: str, serving_key: str | None, engine_message: str,
                 fit: BuildFit) -> Verdict:
    deployment = obs.deployment
    building = obs.desired_job.phase in ("Missing", "Pending", "Running") and not obs.secret_missing and fit.fits
    if building and serving_key is not None and serving_key != cache_key:
        return "True", Reason.NEW_ENGINE_BUILDING, f"building {cache_key}; {serving_key} keeps serving"
    if building:
        return "True", Reason.BUILDING, engine_message
    if deployment.exists and serving_key is not None and (
        deployment.serving_key != serving_key or not deployment.rollout_complete
    ):
        return "True", Reason.ROLLING_OUT, f"rolling out engine {serving_key}"
    return "False", Reason.RECONCILED, "nothing in progress"


def _degraded(obs: Observation, cache_key: str, serving_key: str | None, engine_reason: str,
              engine_message: str, fit: BuildFit) -> Verdict:
    """Serving, but something needs a person (a failed or unschedulable new build, pods that cannot start)."""
    deployment = obs.deployment
    if not (deployment.exists and deployment.available):
        return "False", Reason.WAITING_FOR_ENGINE, "not serving yet"
    if (obs.desired_job.phase == "Failed" or not fit.fits) and serving_key != cache_key:
        return "True", engine_reason, f"new engine failed, still serving {serving_key}: {engine_message}"
    if deployment.pod_problem is not None:
        return "True", Reason.REPLICAS_UNAVAILABLE, deployment.pod_problem.message
    if deployment.progress_deadline_exceeded:
        return "True", Reason.REPLICAS_UNAVAILABLE, "rollout exceeded its progress deadline"
    return "False", Reason.SERVING, "no problems seen"


def decide(
    service: DiffusionService,
    obs: Observation,
    *,
    cache_key: str,
    selector: str,
    endpoints: Endpoints,
    now: datetime,
    build: BuildResources,
    rollback_after: timedelta = DEFAULT_GRACE,
) -> Decision:
    generation = int(service.metadata.get("generation") or 0)
    old = service.status
    rollback = active_rollback(old.rollback, generation)
    target = rollback_target(obs.rollout, now, rollback_after) if rollback is None else None
    if target is not None and obs.rollout is not None:
        rollback = new_rollback(obs.rollout, target, generation, now)
    conditions: list[Condition] = list(old.conditions)

    def put(type_: str, status: ConditionStatus, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(conditions, type=type_, status=status, reason=reason, message=message,
                                   observed_generation=generation, now=now)

    retry = oom_retry(obs.desired_job, build)
    if retry is not None:
        # The failed Job goes this round: everything below reports the build to come (Progressing,
        # not Degraded; the engine Pending), not the failure it replaces; EngineReady says why.
        obs = replace(obs, desired_job=JobState(name=obs.desired_job.name, phase="Missing"))
    job = obs.desired_job
    # Only a build about to be created is checked: an existing Job already has its pod, or its verdict.
    fit = build_fit(build.memory_request_bytes, build.memory_source,
                    obs.build_nodes if job.phase == "Missing" else None)
    quality = quality_from_summary(job.summary) or (
        old.engine.quality if old.engine is not None and old.engine.cache_key == cache_key else None)
    engine_status, engine_reason, engine_message = _engine_condition(job, obs.secret_missing, fit, retry)
    if engine_status == "True":
        engine_message += published_note(quality)
    put(ConditionType.ENGINE_READY, engine_status, engine_reason, engine_message)
    put(ConditionType.STEPS_QUALITY, *steps_quality(service.spec, quality))

    serving_key = serving_key_for(cache_key, obs)
    if rollback is not None:
        serving_key = rollback.cache_key if target is not None else obs.deployment.serving_key
    ownership = replica_ownership(service.spec)
    desired_replicas = _desired_replicas(service, obs, ownership.rendered_replicas)
    put(ConditionType.AVAILABLE, *_available(obs, serving_key, desired_replicas))
    put(ConditionType.PROGRESSING, *_progressing(obs, cache_key, serving_key, engine_message, fit))
    if rollback is not None:
        put(ConditionType.DEGRADED, "True", Reason.ROLLED_BACK,
            f"{rollback.message}; edit the spec to try again")
    else:
        put(ConditionType.DEGRADED, *_degraded(obs, cache_key, serving_key, engine_reason, engine_message, fit))
    available = next(c for c in conditions if c.type == ConditionType.AVAILABLE)
    if available.status == "True":
        put(ConditionType.READY, "True", Reason.SERVING, f"serving engine {serving_key}")
    else:
        put(ConditionType.READY, "False", available.reason, available.message)
    deployment = obs.deployment

    summary = dict(job.summary)
    if not summary and old.engine is not None and old.engine.cache_key == cache_key:
        # The pods were not re-read (the summary was known): keep what the build reported.
        summary = {"tensorrt_version": old.engine.tensorrt_version,
                   "compute_capability": old.engine.compute_capability}
    engine = EngineStatus(
        cache_key=cache_key,
        serving_cache_key=serving_key,
        job_name=job.name,
        state=_engine_state(job) if not obs.secret_missing and fit.fits else "Failed",  # type: ignore[arg-type]
        started_at=job.started_at,
        completed_at=job.completed_at,
        tensorrt_version=_str_or_none(summary.get("tensorrt_version")),
        compute_capability=_str_or_none(summary.get("compute_capability")),
        # A finished build whose pods were not re-read keeps the builder's own message, never one
        # written while it was still pending (seen on the real node: "waiting to start" stuck on).
        message=(job.message or (old.engine.message if old.engine and old.engine.cache_key == cache_key
                                  and job.phase == "Succeeded" and old.engine.state == "Succeeded" else None)
                 or engine_message)[:4096],
        quality=quality,
    )
    status = old.model_copy(update={
        "conditions": conditions,
        "observed_generation": generation,
        "replicas": deployment.replicas,
        "ready_replicas": deployment.ready_replicas,
        "desired_replicas": desired_replicas,
        "selector": selector,
        "ready": ready_text(deployment.ready_replicas, desired_replicas),
        "engine": engine,
        "endpoints": endpoints if serving_key is not None else None,
        "rollback": rollback or old.rollback,
    })
    status = status.model_copy(update={"phase": derive_phase(status.conditions)})
    return Decision(
        cache_key=cache_key,
        # An existing Job is never re-applied (its pod template is immutable, and a failed one stays for
        # inspection until the spec, and so the key, changes, or an OOMKilled one is retired for a build
        # with more memory: ``oom_retry``): a new user of it only joins its owners, up to MAX_BUILD_OWNERS.
        build_engine=job.phase == "Missing" and fit.fits and retry is None,
        adopt_build=joins_build_owners(job, str(service.metadata.get("uid"))),
        serving_key=serving_key,
        replica_ownership=ownership,
        status=status,
        build=build,
        events=with_rollback_event(transition_events(old.conditions, status.conditions),
                                    rollback if target is not None else None),
        rollback_template=target.template if target is not None else None,
        hold_template=rollback is not None and target is None,
        requeue_after=seconds_until_rollback(obs.rollout, now, rollback_after) if rollback is None else None,
        oom_retry=retry,
    )


def _str_or_none(value: object) -> str | None:
    return None if value in (None, "") else str(value)

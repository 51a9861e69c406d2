"""Reconcile DiffusionServices: on create/update/resume, on their children's events, and on a slow timer.

Every path runs the same level-based ``reconcile_service``: observe the children, ``decide`` (pure),
render and server-side apply what the decision asks for, write the status only when it changed,
and post an Event per condition transition. Repeating it after a crash is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from diffusion_operator import telemetry
from diffusion_operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService, status_patch
from diffusion_operator.api.status import Endpoints
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.handlers.runtime import CONFIG, Runtime
from diffusion_operator.handlers.workqueue import OwnerKey
from diffusion_operator.k8s.gateway import KubeError, KubeGateway
from diffusion_operator.k8s.observe import observe
from diffusion_operator.reconcile.decide import Decision, decide, joins_build_owners
from diffusion_operator.reconcile.observation import JobState, job_state
from diffusion_operator.render import names
from diffusion_operator.render.accounts import build_builder_service_account
from diffusion_operator.render.deployment import build_deployment
from diffusion_operator.render.engine_job import build_engine_job, build_plan_config_map
from diffusion_operator.render.network_policy import build_network_policy
from diffusion_operator.render.pods import owner_reference
from diffusion_operator.render.replicas import (
    AUTOSCALER_FIELD_MANAGER,
    OPERATOR_FIELD_MANAGER,
    needs_disruption_budget,
    replica_ownership,
)
from diffusion_operator.render.service import (
    build_pod_disruption_budget,
    build_service,
    build_service_monitor,
    endpoints,
)
from diffusion_operator.render.storage import build_engine_cache_claim

log = logging.getLogger(__name__)
#: Back off this long after an API error before kopf retries the handler.
RETRY_DELAY_SECONDS = 10


def _as_body(body: Mapping[str, Any]) -> kopf.Body:
    return body if isinstance(body, kopf.Body) else kopf.Body(dict(body))  # type: ignore[arg-type]


def _with_owner(manifest: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    manifest["metadata"]["ownerReferences"] = [owner]
    return manifest


def shared_field_manager(uid: str) -> str:
    """Each service applies shared build objects under its own manager, so that its ownerReference
    survives the other owners' applies (server-side apply keys ownerReferences by uid per manager)."""
    return f"{OPERATOR_FIELD_MANAGER}.{uid}"


def apply_engine_build(gateway: KubeGateway, body: Mapping[str, Any], service: DiffusionService,
                       runtime: Runtime, plan: Any) -> None:
    namespace = body["metadata"]["namespace"]
    settings = runtime.render_settings
    gateway.apply(build_engine_cache_claim(namespace, settings), field_manager=OPERATOR_FIELD_MANAGER)
    gateway.apply(build_builder_service_account(namespace), field_manager=OPERATOR_FIELD_MANAGER)
    shared_owner = owner_reference(body, controller=False)
    manager = shared_field_manager(body["metadata"]["uid"])
    gateway.apply(_with_owner(build_plan_config_map(namespace, plan), shared_owner), field_manager=manager)
    gateway.apply(_with_owner(build_engine_job(namespace, service.spec, plan, settings), shared_owner),
                  field_manager=manager)


#: Tries to join a build's owners while other services change the Job under us (HTTP 409 each time).
ADOPT_ATTEMPTS = 5


def adopt_engine_build(gateway: KubeGateway, body: Mapping[str, Any], plan: Any, job: JobState) -> bool:
    """Join the owners of a build another service started (metadata-only apply, own field manager).

    The apply carries the observed resourceVersion, so two services cannot both take the last owner
    slot (``MAX_BUILD_OWNERS``): the loser re-reads the Job and asks ``joins_build_owners`` again, and
    follows the build without owning it if the slots are gone. False when the build vanished since it
    was observed (its last owner was deleted and the garbage collector took it): a metadata-only apply
    would then try to create an empty object (HTTP 422).
    """
    namespace, uid = body["metadata"]["namespace"], str(body["metadata"]["uid"])
    key = plan.cache_key()
    manager = shared_field_manager(uid)
    owner = [owner_reference(body, controller=False)]
    for _ in range(ADOPT_ATTEMPTS):
        if not joins_build_owners(job, uid):
            return True
        try:
            precondition = {"resourceVersion": job.resource_version} if job.resource_version else {}
            gateway.apply({"apiVersion": "batch/v1", "kind": "Job",
                           "metadata": {"name": job.name, "namespace": namespace, "ownerReferences": owner,
                                        **precondition}},
                          field_manager=manager)
        except KubeError as err:
            if err.status not in (404, 409, 422):
                raise
            fresh = gateway.get("batch/v1", "Job", job.name, namespace)
            if fresh is None:
                return False
            job = job_state(job.name, fresh, [])
            continue
        try:
            gateway.apply({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": names.engine_plan_config_map_name(key), "namespace": namespace,
                                        "ownerReferences": owner}},
                          field_manager=manager)
        except KubeError as err:
            if err.status == 422 and gateway.get("v1", "ConfigMap", names.engine_plan_config_map_name(key),
                                                 namespace) is None:
                return False
            raise
        return True
    return True  # still contended after every attempt: follow for now, the next reconcile tries again


def hand_replicas_to_autoscaler(gateway: KubeGateway, deployment: dict[str, Any], initial: int) -> None:
    """Make the autoscaler's field manager the owner of ``spec.replicas`` before the operator's apply
    leaves the field out; otherwise server-side apply would drop it and the count fall back to 1."""
    meta = deployment["metadata"]
    existing = gateway.get("apps/v1", "Deployment", meta["name"], meta["namespace"])
    if existing is None:
        existing = gateway.apply({**deployment, "spec": {**deployment["spec"], "replicas": initial}},
                                 field_manager=OPERATOR_FIELD_MANAGER)
    if not gateway.owns_field(existing, AUTOSCALER_FIELD_MANAGER, ("spec", "replicas")):
        keep = int((existing.get("spec") or {}).get("replicas") or initial)
        gateway.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                       "spec": {"replicas": keep}}, field_manager=AUTOSCALER_FIELD_MANAGER)


def serving_children(body: Mapping[str, Any], service: DiffusionService, runtime: Runtime, serving_key: str,
                     monitor: bool, current_replicas: int) -> list[dict[str, Any]]:
    """Deployment, Service, optional ServiceMonitor, PDB and NetworkPolicy, owned by the service, with their hash."""
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    owner = owner_reference(body)
    replicas = replica_ownership(service.spec).rendered_replicas
    children = [build_deployment(name, namespace, service.spec, cache_key=serving_key, replicas=replicas,
                                 settings=runtime.render_settings), build_service(name, namespace)]
    if monitor:
        children.append(build_service_monitor(name, namespace, runtime.render_settings))
    pdb = build_pod_disruption_budget(name, namespace, current_replicas)
    if pdb is not None and needs_disruption_budget(current_replicas):
        children.append(pdb)
    policy = build_network_policy(name, namespace, service.spec.serving.network_policy, runtime.render_settings)
    if policy is not None:
        children.append(policy)
    for child in children:
        _with_owner(child, owner)
    digest = hashlib.sha256(json.dumps(children, sort_keys=True).encode()).hexdigest()[:16]
    children[0]["metadata"].setdefault("annotations", {})[names.APPLIED_HASH_ANNOTATION] = digest
    return children


def with_template(deployment: dict[str, Any], template: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Deployment with another pod template (a rollback), or None to leave the template alone."""
    if template is None:
        return None
    return {**deployment, "spec": {**deployment["spec"], "template": template}}


def apply_serving(gateway: KubeGateway, service: DiffusionService, children: list[dict[str, Any]], *,
                  pdb_may_exist: bool, decision: Decision, network_policy_may_exist: bool = False) -> None:
    """Apply the serving children; while a rollback holds, the Deployment keeps its restored template."""
    deployment = children[0]
    if replica_ownership(service.spec).owner == "autoscaler":
        hand_replicas_to_autoscaler(gateway, deployment, max(service.spec.autoscaling.min_replicas, 1))
    if decision.hold_template:
        children = children[1:]
    elif (restored := with_template(deployment, decision.rollback_template)) is not None:
        children = [restored, *children[1:]]
    for child in children:
        gateway.apply(child, field_manager=OPERATOR_FIELD_MANAGER)
    if pdb_may_exist and not any(child["kind"] == "PodDisruptionBudget" for child in children):
        meta = deployment["metadata"]
        gateway.delete("policy/v1", "PodDisruptionBudget", names.pod_disruption_budget_name(meta["name"]),
                       meta["namespace"])
    if network_policy_may_exist and not any(child["kind"] == "NetworkPolicy" for child in children):
        meta = deployment["metadata"]
        gateway.delete("networking.k8s.io/v1", "NetworkPolicy", names.network_policy_name(meta["name"]),
                       meta["namespace"])


def record_build_outcome(namespace: str, decision: Decision, job: JobState) -> None:
    """Count build results as each service sees them finish (a shared build counts once per user)."""
    reasons = {note.reason for note in decision.events}
    if Reason.ENGINE_BUILT in reasons:
        telemetry.ENGINE_BUILDS.labels(namespace, "succeeded").inc()
        if job.started_at and job.completed_at:
            seconds = (job.completed_at - job.started_at).total_seconds()
            telemetry.ENGINE_BUILD_SECONDS.labels(namespace).observe(seconds)
    if reasons & {Reason.BUILD_FAILED, Reason.BUILD_TIMED_OUT}:
        telemetry.ENGINE_BUILDS.labels(namespace, "failed").inc()


def reconcile_service(runtime: Runtime, body: Mapping[str, Any], *, force: bool = False) -> Decision:
    """Observe -> decide -> apply -> report, for one DiffusionService body.

    Serving children are re-applied only when what would be applied changed (a hash on the Deployment)
    or ``force`` is set (spec events and the resync timer), which keeps child events cheap at scale.
    """
    gateway, config = runtime.gateway, runtime.config
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    service = DiffusionService.model_validate(dict(body))
    plan = plan_for(service.spec, config.tensorrt_version, config.build_backend)
    key = plan.cache_key()
    known = service.status.engine
    obs = observe(gateway, namespace, name, key,
                  summary_known=bool(known and known.cache_key == key and known.state == "Succeeded"))
    decision = decide(
        service, obs, cache_key=key, selector=names.selector_string(name),
        endpoints=Endpoints(**endpoints(name, namespace)), now=datetime.now(UTC),
        rollback_after=timedelta(seconds=config.rollback_after_seconds),
    )
    if decision.build_engine:
        telemetry.ENGINE_BUILDS.labels(namespace, "started").inc()
        apply_engine_build(gateway, body, service, runtime, plan)
    elif decision.adopt_build and not adopt_engine_build(gateway, body, plan, obs.desired_job):
        apply_engine_build(gateway, body, service, runtime, plan)  # the shared build vanished: start it anew
    if decision.serving_key is not None:
        current = max(obs.deployment.replicas, decision.status.desired_replicas or 0)
        children = serving_children(body, service, runtime, decision.serving_key,
                                    obs.service_monitor_supported, current)
        digest = children[0]["metadata"]["annotations"][names.APPLIED_HASH_ANNOTATION]
        if force or digest != obs.deployment.applied_hash or decision.rollback_template is not None:
            # A PDB exists only after more than one replica ran; a brand-new Deployment never had one.
            had_many = obs.deployment.replicas > 1 or (service.status.desired_replicas or 0) > 1
            apply_serving(gateway, service, children, pdb_may_exist=obs.deployment.exists and (had_many or force),
                          decision=decision, network_policy_may_exist=obs.deployment.exists)
    patch = status_patch(decision.status, service.status)
    if patch:
        gateway.patch_status(API_VERSION, KIND, name, namespace, patch)
    for note in decision.events:
        kopf.event(_as_body(body), type=note.type, reason=note.reason, message=note.message)
    record_build_outcome(namespace, decision, obs.desired_job)
    status = decision.status
    telemetry.record_service(namespace, name, phase=status.phase, desired=status.desired_replicas,
                             ready=status.ready_replicas)
    return decision


def run_reconcile(runtime: Runtime, body: Mapping[str, Any], *, force: bool, reread: bool = True) -> float | None:
    """``reconcile_service`` under the service's lock, with errors turned into status and retries.

    Returns the decision's ``requeue_after``: when to look again even if no event comes.
    """
    started = time.monotonic()
    meta = body["metadata"]
    with runtime.lock_for(meta["uid"]):
        if reread:
            # The body we were handed may predate a status another path just wrote.
            fresh = runtime.gateway.get(API_VERSION, KIND, meta["name"], meta["namespace"])
            if fresh is None or fresh["metadata"].get("uid") != meta["uid"] \
                    or fresh["metadata"].get("deletionTimestamp"):
                return None
            body = fresh
        try:
            decision = reconcile_service(runtime, body, force=force)
        except ValidationError as err:
            # The API server's schema and CEL rules should make this impossible; if an object predates
            # them, say so on the object instead of crash-looping.
            telemetry.RECONCILE_ERRORS.labels(Reason.INVALID_SPEC).inc()
            kopf.event(_as_body(body), type="Warning", reason=Reason.INVALID_SPEC, message=str(err)[:1024])
            raise kopf.PermanentError(f"invalid spec: {err}") from err
        except KubeError as err:
            if err.status == 404 and runtime.gateway.get(API_VERSION, KIND, meta["name"], meta["namespace"]) is None:
                return None  # deleted while we reconciled: its children go with it, and nothing is left to report on
            telemetry.RECONCILE_ERRORS.labels(f"HTTP{err.status}").inc()
            telemetry.RECONCILE_SECONDS.labels("error").observe(time.monotonic() - started)
            kopf.event(_as_body(body), type="Warning", reason=Reason.RECONCILE_ERROR, message=str(err)[:1024])
            raise kopf.TemporaryError(str(err), delay=RETRY_DELAY_SECONDS) from err
    telemetry.RECONCILE_SECONDS.labels("ok").observe(time.monotonic() - started)
    return decision.requeue_after


def requeue(memo: kopf.Memo, body: Mapping[str, Any], delay: float | None) -> None:
    """Ask the work queue for another reconcile after ``delay`` (from kopf's own handlers)."""
    dirty = getattr(memo, "dirty", None)
    if delay is not None and dirty is not None:
        meta = body["metadata"]
        dirty.mark_later(OwnerKey(meta["namespace"], meta["name"], str(meta["uid"])), delay)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def on_service_changed(body: kopf.Body, memo: kopf.Memo, reason: str, **_: Any) -> None:
    # A just-created object has no status anyone could have written yet: no need to re-read it.
    requeue(memo, body, run_reconcile(memo.runtime, body, force=True, reread=reason != "create"))


def _resync_enabled(**_: Any) -> bool:
    return CONFIG.resync_interval_seconds > 0


@kopf.timer(GROUP, VERSION, PLURAL, interval=CONFIG.resync_interval_seconds or 1.0,
            initial_delay=CONFIG.resync_interval_seconds, idle=None, when=_resync_enabled)
def resync(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The level-based safety net: catches anything an event missed (e.g. during an outage)."""
    requeue(memo, body, run_reconcile(memo.runtime, body, force=True))


def owners_of(child: Mapping[str, Any]) -> list[OwnerKey]:
    """The DiffusionServices that own a child (several for a shared build)."""
    namespace = child["metadata"]["namespace"]
    return [OwnerKey(namespace, ref["name"], str(ref.get("uid")))
            for ref in child["metadata"].get("ownerReferences") or []
            if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(GROUP)]


def reconcile_owner(runtime: Runtime, key: OwnerKey) -> float | None:
    """The dirty-queue worker's job: one reconcile of a service some child event marked.

    Failures propagate: the queue retries the key with backoff (a permanent spec error is on the
    object as an Event already and is not retried).
    """
    owner = {"metadata": {"name": key.name, "namespace": key.namespace, "uid": key.uid}}
    with contextlib.suppress(kopf.PermanentError):
        return run_reconcile(runtime, owner, force=False)
    return None


_MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY}


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_service_event(type: str, body: kopf.Body, **_: Any) -> None:
    """A deleted service's metrics go with it (a watch event: no finalizer is needed or added).

    async, like the index below: a sync handler would run on kopf's thread pool, queued behind the
    reconciles, and a burst of events would hold every body in memory until a thread is free.
    """
    if type == "DELETED":
        telemetry.forget_service(body["metadata"]["namespace"], body["metadata"]["name"])


@kopf.index(GROUP, VERSION, PLURAL)
async def services_by_engine_key(namespace: str | None, name: str, uid: str, status: kopf.Status,
                                 **_: Any) -> dict[tuple[str, str], OwnerKey] | None:
    """Services by the engine key they last asked for: the users of a build, owners or followers."""
    key = (status.get("engine") or {}).get("cacheKey")
    return {(namespace, key): OwnerKey(namespace, name, uid)} if key and namespace else None


def build_users(job: Mapping[str, Any], index: Mapping[tuple[str, str], Any]) -> set[OwnerKey]:
    """A build Job's owners plus the services that follow it without owning it (``MAX_BUILD_OWNERS``)."""
    meta = job["metadata"]
    key = (meta.get("labels") or {}).get(names.ENGINE_KEY_LABEL)
    followers = index.get((meta["namespace"], key), ()) if key else ()
    return {*owners_of(job), *followers}


@kopf.on.event("batch", "v1", "jobs", labels=_MANAGED)
async def on_job_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Build progress and deletions (a vanished build is re-created): mark every user of it dirty and
    return, so bursts coalesce into one reconcile per service (handlers/workqueue.py)."""
    for key in build_users(body, kwargs["services_by_engine_key"]):
        memo.dirty.mark(key)


@kopf.on.event("apps", "v1", "deployments", labels=_MANAGED)
async def on_child_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Deployment rollouts and deletions (a deleted child is re-created) alike: mark the owner dirty."""
    for key in owners_of(body):
        memo.dirty.mark(key)

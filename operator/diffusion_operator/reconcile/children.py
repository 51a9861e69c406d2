"""The whole desired state of a service's children, from its decision: what to apply, what to delete.

Pure: ``desired_children`` renders every child the decision asks for and settles what is left to
settle — the shared build to start or join (or the failed one to delete for a rebuild), the
serving children to send (after a rollback's template substitution), the ones to delete (a
PodDisruptionBudget or NetworkPolicy no longer wanted), the applied hash, and whether
``spec.replicas`` must first be handed to the autoscaler.
The Kubernetes edge (``k8s/children.py``) applies it as it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from diffusion_operator.api.resource import DiffusionService, ServiceRef
from diffusion_operator.api.spec_serving import ResourceRequirements
from diffusion_operator.reconcile.decide import Decision
from diffusion_operator.reconcile.observation import Observation
from diffusion_operator.render import names
from diffusion_operator.render.accounts import build_builder_service_account
from diffusion_operator.render.activator import (
    activator_child_refs,
    activator_children,
    api_enabled,
    build_activator_service_monitor,
    build_backend_service,
    build_client_service_via_activator,
    fronted_by_activator,
)
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import build_deployment, with_template
from diffusion_operator.render.engine_job import build_engine_job, build_plan_config_map
from diffusion_operator.render.network_policy import build_activator_network_policy, build_network_policy
from diffusion_operator.render.pods import owner_reference
from diffusion_operator.render.replicas import shared_field_manager
from diffusion_operator.render.service import build_pod_disruption_budget, build_service, build_service_monitor
from diffusion_operator.render.storage import build_engine_cache_claim
from engine_builder.plan import BuildPlan


@dataclass(frozen=True)
class ChildRef:
    """A child to delete."""

    api_version: str
    kind: str
    name: str
    namespace: str
    #: Delete only this incarnation (a precondition): a newer object of the same name is left alone.
    uid: str | None = None


@dataclass(frozen=True)
class EngineBuild:
    """The shared build of the decision's cache key, to start (no Job yet) or to join (another's)."""

    namespace: str
    cache_key: str
    job_name: str
    #: Create the build (True), or only join the owners of the existing one (False).
    start: bool
    #: The namespace's objects no service owns (the cache claim, the builder's ServiceAccount),
    #: applied under the operator's field manager.
    namespace_objects: tuple[dict[str, Any], ...]
    #: The plan ConfigMap and the Job, owned (not controlled) by this service, applied under ``field_manager``.
    owned: tuple[dict[str, Any], ...]
    #: This service's ownerReference on the shared objects.
    owner: dict[str, Any]
    #: This service's own field manager for the shared objects (``replicas.shared_field_manager``).
    field_manager: str
    uid: str


@dataclass(frozen=True)
class ServingChildren:
    """The serving children to send now, in order, under the operator's field manager."""

    apply: tuple[dict[str, Any], ...]
    delete: tuple[ChildRef, ...]
    #: Give ``spec.replicas`` to the autoscaler's field manager first, at this count if the Deployment
    #: is new (None: the spec's count is the operator's to write).
    hand_over_replicas: int | None
    #: The Deployment as rendered (with the hash, without a rollback's template): what a new
    #: autoscaled Deployment is created from before the hand-over.
    deployment: dict[str, Any]


@dataclass(frozen=True)
class DesiredChildren:
    build: EngineBuild | None
    #: None when nothing is served yet, or when the serving children are unchanged (same hash).
    serving: ServingChildren | None
    #: The hash of the serving children, on the Deployment; None while nothing is served.
    applied_hash: str | None
    #: The failed build Job to delete so the next reconcile builds again (``Decision.oom_retry``).
    retired_build: ChildRef | None = None


def engine_build(service: DiffusionService, plan: BuildPlan, settings: RenderSettings, resources: ResourceRequirements,
                 *, start: bool) -> EngineBuild:
    """Every object of the shared build of ``plan``, with ``service`` as one of its owners."""
    ref = service.ref
    namespace, key = ref.namespace, plan.cache_key()
    owner = owner_reference(ref, controller=False)
    owned = (build_plan_config_map(namespace, plan),
             build_engine_job(namespace, service.spec, plan, settings, resources))
    return EngineBuild(
        namespace=namespace, cache_key=key, job_name=names.engine_job_name(key), start=start,
        namespace_objects=(build_engine_cache_claim(namespace, settings),
                           build_builder_service_account(namespace, settings.builder_service_account)),
        owned=tuple(_owned_by(child, owner) for child in owned),
        owner=owner, field_manager=shared_field_manager(ref.uid), uid=ref.uid,
    )


def serving_manifests(service: DiffusionService, decision: Decision, settings: RenderSettings, *,
                      serving_key: str, monitor: bool, current_replicas: int) -> list[dict[str, Any]]:
    """Deployment, Service, optional ServiceMonitor, PDB and NetworkPolicy, owned by the service,
    plus the activator's children while it fronts the service (it may scale to zero, or its API is on:
    ``render.activator.fronted_by_activator``); the Deployment (first) carries the hash of them all."""
    ref = service.ref
    name, namespace = ref.name, ref.namespace
    via_activator = fronted_by_activator(service.spec)
    children = [build_deployment(name, namespace, service.spec, cache_key=serving_key,
                                 replicas=decision.replica_ownership.rendered_replicas, settings=settings)]
    if via_activator:  # the activator and the backend Service exist before the client Service points there
        children += [build_backend_service(name, namespace),
                     *activator_children(name, namespace, service.spec, settings),
                     build_client_service_via_activator(name, namespace, names.service_name(name))]
    else:
        children.append(build_service(name, namespace))
    if monitor:
        children.append(build_service_monitor(name, namespace, settings))
        if via_activator:
            children.append(build_activator_service_monitor(name, namespace, settings))
    pdb = build_pod_disruption_budget(name, namespace, current_replicas)
    if pdb is not None:
        children.append(pdb)
    network_policy = service.spec.serving.network_policy
    policy = build_network_policy(name, namespace, network_policy, settings, via_activator=via_activator,
                                  speed_tier=service.spec.autoscaling.enabled
                                  and service.spec.autoscaling.overload.enabled,
                                  api=api_enabled(service.spec))
    if policy is not None:
        children.append(policy)
    if via_activator and (activator_policy := build_activator_network_policy(name, namespace, network_policy,
                                                                            settings)) is not None:
        children.append(activator_policy)
    owner = owner_reference(ref)
    children = [_owned_by(child, owner) for child in children]
    children[0]["metadata"].setdefault("annotations", {})[names.APPLIED_HASH_ANNOTATION] = applied_hash(children)
    return children


def applied_hash(children: list[dict[str, Any]]) -> str:
    """What the operator last sent, in 16 hex digits: unchanged children are not re-sent."""
    return hashlib.sha256(json.dumps(children, sort_keys=True).encode()).hexdigest()[:16]


def desired_children(service: DiffusionService, obs: Observation, decision: Decision, plan: BuildPlan,
                     settings: RenderSettings, *, force: bool = False) -> DesiredChildren:
    """Everything the reconcile applies and deletes for ``decision``.

    Serving children are sent only when what would be applied changed (the hash on the Deployment),
    when ``force`` is set (spec events and the resync timer) or when a rollback restores a template,
    which keeps child events cheap at scale.
    """
    ref = service.ref
    build = None
    if decision.build_engine or decision.adopt_build:
        build = engine_build(service, plan, settings, decision.build.requirements, start=decision.build_engine)
    retry = decision.oom_retry
    retired = None if retry is None else ChildRef("batch/v1", "Job", retry.job_name, ref.namespace, retry.job_uid)
    if decision.serving_key is None:
        return DesiredChildren(build=build, serving=None, applied_hash=None, retired_build=retired)
    deployment_state = obs.deployment
    current = max(deployment_state.replicas, decision.status.desired_replicas or 0)
    children = serving_manifests(service, decision, settings, serving_key=decision.serving_key,
                                 monitor=obs.service_monitor_supported, current_replicas=current)
    deployment = children[0]
    digest = deployment["metadata"]["annotations"][names.APPLIED_HASH_ANNOTATION]
    if not (force or digest != deployment_state.applied_hash or decision.rollback_template is not None):
        return DesiredChildren(build=build, serving=None, applied_hash=digest, retired_build=retired)
    send = children
    if decision.hold_template:  # a rollback holds for this generation: leave the Deployment as it is
        send = children[1:]
    elif decision.rollback_template is not None:
        send = [with_template(deployment, decision.rollback_template), *children[1:]]
    ownership = decision.replica_ownership
    return DesiredChildren(build=build, applied_hash=digest, retired_build=retired, serving=ServingChildren(
        apply=tuple(send),
        delete=_unwanted(ref, service, obs, children, force=force),
        hand_over_replicas=max(service.spec.autoscaling.min_replicas, 1) if ownership.owner == "autoscaler" else None,
        deployment=deployment,
    ))


def _unwanted(ref: ServiceRef, service: DiffusionService, obs: Observation, children: list[dict[str, Any]], *,
              force: bool) -> tuple[ChildRef, ...]:
    """The optional children that may exist but are not rendered now.

    A PDB exists only after more than one replica ran (a brand-new Deployment never had one); a
    NetworkPolicy and the activator's children only once the Deployment exists.
    """
    kinds = {child["kind"] for child in children}
    deployment = obs.deployment
    had_many = deployment.replicas > 1 or (service.status.desired_replicas or 0) > 1
    unwanted = []
    if deployment.exists and (had_many or force) and "PodDisruptionBudget" not in kinds:
        unwanted.append(ChildRef("policy/v1", "PodDisruptionBudget", names.pod_disruption_budget_name(ref.name),
                                 ref.namespace))
    if deployment.exists and "NetworkPolicy" not in kinds:
        unwanted.append(ChildRef("networking.k8s.io/v1", "NetworkPolicy", names.network_policy_name(ref.name),
                                 ref.namespace))
    if deployment.exists and obs.activator_exists:
        rendered = {(child["kind"], child["metadata"]["name"]) for child in children}
        for api_version, kind, name in activator_child_refs(ref.name, ref.namespace):
            if (kind, name) in rendered or (kind == "ServiceMonitor" and not obs.service_monitor_supported):
                continue
            unwanted.append(ChildRef(api_version, kind, name, ref.namespace))
    return tuple(unwanted)


def _owned_by(manifest: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    manifest["metadata"]["ownerReferences"] = [owner]
    return manifest

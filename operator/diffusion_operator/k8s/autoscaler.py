"""The autoscaler's reads and writes against the API server: the edges of one tick.

Reads the service and its fleet (the Deployment, and its pods when the tick uses them); writes what
``autoscaling.tick.plan_tick`` decided, under the autoscaler's own field manager (``render.replicas``):
the Deployment's ``spec.replicas`` and, before a scale-down, each pod's deletion cost. A refused write
is returned as a ``WriteFailure`` naming the object and the API's answer, never raised: the status
says the service cannot scale (AbleToScale=False) instead of kopf retrying a tick in a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from diffusion_operator.api import API_VERSION, KIND
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService, ServiceRef, status_patch
from diffusion_operator.api.status import DiffusionServiceStatus
from diffusion_operator.autoscaling.deletion_cost import DELETION_COST_ANNOTATION, deletion_costs
from diffusion_operator.autoscaling.fleet import Fleet, parse_fleet
from diffusion_operator.autoscaling.status import WriteFailure
from diffusion_operator.autoscaling.tick import TickPlan, autoscaled, needs_pods
from diffusion_operator.k8s.gateway import KubeError, KubeGateway
from diffusion_operator.render import names
from diffusion_operator.render.replicas import (
    AUTOSCALER_FIELD_MANAGER,
    build_pod_deletion_cost,
    build_replicas_only,
)

log = logging.getLogger(__name__)


def read_tick(gateway: KubeGateway, ref: ServiceRef) -> tuple[DiffusionService, Fleet] | None:
    """The service and its fleet, or None when there is nothing to scale (yet)."""
    body = gateway.get(API_VERSION, KIND, ref.name, ref.namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    service = DiffusionService.model_validate(body)
    if not autoscaled(service):
        return None
    deployment = gateway.get("apps/v1", "Deployment", names.deployment_name(ref.name), ref.namespace)
    if deployment is None:
        return None  # nothing serves yet: the lifecycle reconcile creates it
    fleet = parse_fleet(deployment)
    if needs_pods(service, fleet.ready):
        fleet = parse_fleet(deployment, gateway.pods_of(ref.namespace, names.selector_string(ref.name)))
    return service, fleet


def live_pods(gateway: KubeGateway, ref: ServiceRef) -> tuple[str, ...]:
    """The pods a scale-down may remove, for a tick that did not list them."""
    return parse_fleet({}, gateway.pods_of(ref.namespace, names.selector_string(ref.name))).live_pods or ()


def write_scale(gateway: KubeGateway, ref: ServiceRef, replicas: int) -> WriteFailure | None:
    """The Deployment's ``spec.replicas`` (the autoscaler is its one writer while autoscaling is on)."""
    deployment = names.deployment_name(ref.name)
    try:
        gateway.apply(build_replicas_only(deployment, ref.namespace, replicas), field_manager=AUTOSCALER_FIELD_MANAGER)
    except KubeError as error:
        return WriteFailure(Reason.FAILED_UPDATE_SCALE,
                            f"the autoscaler could not set Deployment {deployment} to {replicas} replicas: {error}")
    return None


def write_deletion_costs(gateway: KubeGateway, ref: ServiceRef, costs: Mapping[str, int]) -> WriteFailure | None:
    """Each pod's deletion cost; a pod gone meanwhile (404) has nothing to rank, any other refusal is named."""
    refused = []
    for pod, cost in costs.items():
        try:
            gateway.apply(build_pod_deletion_cost(pod, ref.namespace, DELETION_COST_ANNOTATION, cost),
                          field_manager=AUTOSCALER_FIELD_MANAGER)
        except KubeError as error:
            if error.status == 404:
                log.debug("deletion cost of %s not written: %s", pod, error)
            else:
                refused.append(f"Pod {pod}: {error}")
    if not refused:
        return None
    return WriteFailure(Reason.FAILED_UPDATE_DELETION_COST,
                        f"the autoscaler could not rank {len(refused)} pod(s) for the scale-down: {'; '.join(refused)}")


def write_plan(gateway: KubeGateway, ref: ServiceRef, plan: TickPlan,
               work: tuple[dict[str, float], dict[str, float]] | None) -> list[WriteFailure | None]:
    """The count, after (before a scale-down, when Prometheus could say) each pod's deletion cost."""
    failures = []
    if plan.ranking is not None and work is not None:
        pods = plan.ranking.pods if plan.ranking.pods is not None else live_pods(gateway, ref)
        failures.append(write_deletion_costs(gateway, ref, deletion_costs(pods, *work)))
    if plan.replicas is not None:
        failures.append(write_scale(gateway, ref, plan.replicas))
    return failures


def write_status(gateway: KubeGateway, service: DiffusionService, status: DiffusionServiceStatus) -> None:
    """The autoscaler's part of the status, only when it changed."""
    patch = status_patch(status, service.status)
    if patch:
        ref = service.ref
        gateway.patch_status(API_VERSION, KIND, ref.name, ref.namespace, patch)

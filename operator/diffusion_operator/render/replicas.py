"""Who owns the Triton Deployment's ``spec.replicas``: exactly one writer, named here.

- ``spec``: autoscaling is off. The count is ``spec.replicas`` (set by users, ``kubectl scale dfs``,
  an HPA or KEDA through the DiffusionService's /scale subresource) or 1 when unset; the operator's
  own apply writes it.
- ``autoscaler``: autoscaling is on. The operator's apply *omits* ``replicas`` (so server-side apply
  never resets it) and only the autoscaler writes it: a server-side apply of the Deployment's
  ``spec.replicas`` alone under its own field manager. The CRD forbids ``spec.replicas`` in this
  mode, so ``kubectl scale dfs`` cannot fight the autoscaler either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from diffusion_operator.api.spec import DEFAULT_REPLICAS, DiffusionServiceSpec

#: Field manager of the operator's server-side apply of every child.
OPERATOR_FIELD_MANAGER = "diffusion-operator"
#: Field manager of the autoscaler's writes of Deployment replicas (and nothing else).
AUTOSCALER_FIELD_MANAGER = "diffusion-operator-autoscaler"


@dataclass(frozen=True)
class ReplicaOwnership:
    owner: Literal["spec", "autoscaler"]
    #: The field manager that writes Deployment ``spec.replicas``.
    field_manager: str
    #: What ``build_deployment`` renders: a count, or None to leave the field out.
    rendered_replicas: int | None


def replica_ownership(spec: DiffusionServiceSpec) -> ReplicaOwnership:
    if spec.autoscaling.enabled:
        return ReplicaOwnership("autoscaler", AUTOSCALER_FIELD_MANAGER, None)
    replicas = spec.replicas if spec.replicas is not None else DEFAULT_REPLICAS
    return ReplicaOwnership("spec", OPERATOR_FIELD_MANAGER, replicas)


def needs_disruption_budget(current_replicas: int) -> bool:
    """A PDB only protects something when more than one pod exists; with one it would block drains."""
    return current_replicas > 1


def shared_field_manager(uid: str) -> str:
    """Each service applies shared build objects under its own manager, so that its ownerReference
    survives the other owners' applies (server-side apply keys ownerReferences by uid per manager)."""
    return f"{OPERATOR_FIELD_MANAGER}.{uid}"


def build_replicas_only(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    """The Deployment with nothing but ``spec.replicas``: what the autoscaler's field manager applies
    (each scale, and once to take the field over before the operator's apply leaves it out)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas}}


def with_replicas(deployment: dict[str, Any], replicas: int) -> dict[str, Any]:
    """The rendered Deployment with a count: how a new autoscaled Deployment is first created."""
    return {**deployment, "spec": {**deployment["spec"], "replicas": replicas}}


def build_pod_deletion_cost(name: str, namespace: str, annotation: str, cost: int) -> dict[str, Any]:
    """A Triton pod with nothing but its deletion cost: the autoscaler's field manager applies it
    (``autoscaling.deletion_cost``) before a scale-down, so the idle pods go first."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "annotations": {annotation: str(cost)}}}

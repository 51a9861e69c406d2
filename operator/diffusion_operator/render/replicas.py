"""Who owns the Triton Deployment's ``spec.replicas``: exactly one writer, named here.

- ``spec``: autoscaling is off. The count is ``spec.replicas`` (set by users, ``kubectl scale dfs``,
  an HPA or KEDA through the /scale subresource) or 1 when unset; the operator's own apply writes it.
- ``autoscaler``: autoscaling is on. The operator's apply *omits* ``replicas`` (so server-side apply
  never resets it) and only the autoscaler writes it, under its own field manager, through the
  Deployment's /scale subresource. The CRD forbids ``spec.replicas`` in this mode, so ``kubectl scale``
  cannot fight the autoscaler either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

"""Pod pieces shared by the build Job and the Triton Deployment: GPU scheduling, security; owner references.

The build runs on the same GPU type as serving because TensorRT engines are specific to the GPU
architecture, so both take their scheduling from the same catalogue row through ``gpu_scheduling``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from diffusion_operator.api.gpus import GPU_RESOURCE, gpu_model
from diffusion_operator.api.resource import API_VERSION, KIND, ServiceRef
from diffusion_operator.api.spec_serving import ResourceRequirements, Toleration


def gpu_scheduling(
    gpu_type: str,
    *,
    extra_node_selector: Mapping[str, str] | None = None,
    extra_tolerations: Sequence[Toleration] | None = None,
    node_labels: Mapping[str, Mapping[str, str]] | None = None,
    gpu_tolerations: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """``nodeSelector`` and ``tolerations`` of a pod that must land on ``gpu_type`` nodes.

    ``node_labels``/``gpu_tolerations`` are the operator's cluster-specific overrides (chart values
    ``gpuNodeLabels``/``gpuTolerations``); without them the GKE catalogue's labels and taint apply.
    """
    gpu = gpu_model(gpu_type)
    selector = dict((node_labels or {}).get(gpu_type) or gpu.node_selector)
    base = [dict(t) for t in gpu_tolerations] if gpu_tolerations is not None else gpu.tolerations
    tolerations = base + [t.model_dump(by_alias=True, exclude_none=True) for t in extra_tolerations or ()]
    return {
        "nodeSelector": {**dict(extra_node_selector or {}), **selector},
        "tolerations": tolerations,
    }


def container_resources(gpus: int, resources: ResourceRequirements | None) -> dict[str, Any]:
    """Requests/limits with ``nvidia.com/gpu`` set from the GPU count (extended resources: limit only).

    Quantities become strings: the API server accepts both, but the Python client's models and
    server-side-apply diffs compare them as strings.
    """
    limits = {key: str(value) for key, value in ((resources.limits if resources else None) or {}).items()}
    requests = {key: str(value) for key, value in ((resources.requests if resources else None) or {}).items()}
    limits[GPU_RESOURCE] = str(gpus)
    rendered: dict[str, Any] = {"limits": limits}
    if requests:
        rendered["requests"] = requests
    return rendered


def restricted_pod_security(run_as_user: int) -> dict[str, Any]:
    """Pod-level settings the ``restricted`` Pod Security Standard requires (plus fsGroup for the cache)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "fsGroup": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def shared_memory_volume(size: str) -> dict[str, Any]:
    return {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def owner_reference(service: ServiceRef, *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to the DiffusionService ``service``.

    ``controller=True`` for its own children (garbage-collected with it). Shared engine builds take
    ``controller=False`` references from every service using the key: the garbage collector deletes
    them after the last owner is gone, so the reference count lives in Kubernetes.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": service.name,
        "uid": service.uid,
        "controller": controller,
        "blockOwnerDeletion": True,
    }

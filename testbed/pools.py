"""Node pools as a GKE user has them, as data: add a pool by adding a line.

kwok manages only Nodes carrying the ``kwok.x-k8s.io/node=fake`` annotation, so a real node that
ever joins the test bed is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diffusion_operator.api.gpus import ACCELERATOR_LABEL, GPU_RESOURCE, GPU_TOLERATION, GpuType

#: The taint GKE puts on GPU nodes: exactly what the operator's GPU toleration tolerates (api/gpus.py).
GPU_TAINT = {key: value for key, value in GPU_TOLERATION.items() if key != "operator"}


@dataclass(frozen=True)
class NodePool:
    name: str
    nodes: int
    cpu: str = "8"
    memory: str = "32Gi"
    accelerator: GpuType | None = None  # the ACCELERATOR_LABEL value: a GPU type of the operator's catalogue
    gpu_product: str | None = None  # NVIDIA GPU feature discovery's nvidia.com/gpu.product value
    gpus_per_node: int = 0
    extra_labels: dict[str, str] = field(default_factory=dict)


DEFAULT_POOLS: tuple[NodePool, ...] = (
    NodePool("default-pool", nodes=2),
    NodePool(
        "l4-pool",
        nodes=3,
        cpu="16",
        memory="64Gi",
        accelerator="nvidia-l4",
        gpu_product="NVIDIA-L4",
        gpus_per_node=1,
    ),
)

#: Not started by default; ``testbed up --pool h100-pool`` adds it.
EXTRA_POOLS: dict[str, NodePool] = {
    "h100-pool": NodePool(
        "h100-pool",
        nodes=1,
        cpu="26",
        memory="234Gi",
        accelerator="nvidia-h100-80gb",
        gpu_product="NVIDIA-H100-80GB-HBM3",
        gpus_per_node=1,
    ),
}


def node_manifest(pool: NodePool, index: int) -> dict[str, Any]:
    """The Node object kwok will keep Ready, shaped like a GKE node of that pool."""
    name = f"{pool.name}-{index}"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "cloud.google.com/gke-nodepool": pool.name,
        **pool.extra_labels,
    }
    capacity = {"cpu": pool.cpu, "memory": pool.memory, "pods": "110"}
    taints: list[dict[str, str]] = []
    if pool.gpus_per_node:
        if pool.accelerator:
            labels[ACCELERATOR_LABEL] = pool.accelerator
        if pool.gpu_product:
            labels["nvidia.com/gpu.product"] = pool.gpu_product
        labels["nvidia.com/gpu.count"] = str(pool.gpus_per_node)
        capacity[GPU_RESOURCE] = str(pool.gpus_per_node)
        taints.append(dict(GPU_TAINT))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": taints},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }

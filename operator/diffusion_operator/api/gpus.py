"""The GPU catalogue as data: what each ``serving.gpu.type`` means to the engine build and to scheduling.

It lives at the bottom layer (``api``) because the CRD's enum of GPU types and the fp8 rule are
generated from it; ``engines`` (compute capability for the plan) and ``render`` (node selector,
resource, toleration) read the same rows. Adding a GPU is adding one line here and regenerating the
CRD. Values follow GKE's ``cloud.google.com/gke-accelerator`` label, which is also what the test bed's
fake node pools carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine_builder.plan import FP8_MIN_COMPUTE_CAPABILITY

GpuType = Literal[
    "nvidia-l4",
    "nvidia-l40s",
    "nvidia-a10g",
    "nvidia-tesla-a100",
    "nvidia-a100-80gb",
    "nvidia-h100-80gb",
    "nvidia-tesla-t4",
]

#: The node label GKE sets on GPU nodes; its value is the GPU type.
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
#: The extended resource the NVIDIA device plugin advertises.
GPU_RESOURCE = "nvidia.com/gpu"
#: GKE taints GPU nodes so that only pods asking for GPUs land there.
GPU_TOLERATION: dict[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Equal",
    "value": "present",
    "effect": "NoSchedule",
}


@dataclass(frozen=True)
class GpuModel:
    """One row of the catalogue; ``compute_capability`` decides engine compatibility and fp8."""

    type: str
    compute_capability: float
    memory_gib: int

    @property
    def supports_fp8(self) -> bool:
        return self.compute_capability >= FP8_MIN_COMPUTE_CAPABILITY

    @property
    def node_selector(self) -> dict[str, str]:
        return {ACCELERATOR_LABEL: self.type}

    @property
    def tolerations(self) -> list[dict[str, Any]]:
        return [dict(GPU_TOLERATION)]


GPU_CATALOGUE: dict[str, GpuModel] = {
    gpu.type: gpu
    for gpu in (
        GpuModel("nvidia-l4", 8.9, 24),
        GpuModel("nvidia-l40s", 8.9, 48),
        GpuModel("nvidia-a10g", 8.6, 24),
        GpuModel("nvidia-tesla-a100", 8.0, 40),
        GpuModel("nvidia-a100-80gb", 8.0, 80),
        GpuModel("nvidia-h100-80gb", 9.0, 80),
        GpuModel("nvidia-tesla-t4", 7.5, 16),
    )
}

#: Defaults to L4: the cheapest GKE GPU that runs SDXL at 1024² and the one that supports fp8.
DEFAULT_GPU_TYPE: GpuType = "nvidia-l4"


def gpu_model(gpu_type: str) -> GpuModel:
    """The catalogue row for a type; ``KeyError`` names the known types (the CRD enum prevents it)."""
    try:
        return GPU_CATALOGUE[gpu_type]
    except KeyError:
        raise KeyError(f"unknown GPU type {gpu_type!r}; known: {sorted(GPU_CATALOGUE)}") from None


def fp8_capable_types() -> list[str]:
    """GPU types with compute capability >= 8.9, in catalogue order (feeds the CRD's CEL rule)."""
    return [gpu.type for gpu in GPU_CATALOGUE.values() if gpu.supports_fp8]

"""``spec.serving``: how Triton runs the engines; changes here roll the pods without a rebuild."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import ApiModel, Quantity
from diffusion_operator.api.durations import Duration
from diffusion_operator.api.gpus import ACCELERATOR_LABEL, DEFAULT_GPU_TYPE, GPU_RESOURCE, GpuType


class GpuSpec(ApiModel):
    """The GPU every serving pod (and the engine build) runs on."""

    type: GpuType = Field(
        default=DEFAULT_GPU_TYPE,
        description="GPU type, as GKE's cloud.google.com/gke-accelerator node label names it.",
    )
    count: int = Field(default=1, ge=1, le=8, description="GPUs per serving pod (1..8).")


class ResourceRequirements(ApiModel):
    """CPU and memory for the Triton container; GPUs come from serving.gpu.count only."""

    limits: dict[str, Quantity] | None = Field(
        default=None,
        max_length=8,
        description="Resource limits, e.g. {cpu: 4, memory: 32Gi}.",
        json_schema_extra=cel.validations(
            cel.rule(f"!('{GPU_RESOURCE}' in self)", "set GPUs with serving.gpu.count, not in resources")
        ),
    )
    requests: dict[str, Quantity] | None = Field(
        default=None,
        max_length=8,
        description="Resource requests, e.g. {cpu: 2, memory: 16Gi}.",
        json_schema_extra=cel.validations(
            cel.rule(f"!('{GPU_RESOURCE}' in self)", "set GPUs with serving.gpu.count, not in resources")
        ),
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> ResourceRequirements:
        if GPU_RESOURCE in (self.limits or {}) or GPU_RESOURCE in (self.requests or {}):
            raise ValueError("set GPUs with serving.gpu.count, not in resources")
        return self


class Toleration(ApiModel):
    """A pod toleration, added to the GPU toleration the operator always sets."""

    key: str | None = Field(default=None, max_length=253, description="Taint key the toleration applies to.")
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists or Equal.")
    value: str | None = Field(default=None, max_length=63, description="Taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; unset tolerates all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="For NoExecute: how long the pod stays bound after the taint appears."
    )


class ServingSpec(ApiModel):
    """How Triton serves the engines; changes here roll the Deployment without a rebuild."""

    gpu: GpuSpec = Field(
        default_factory=GpuSpec,
        description="GPU type and count per pod; the engine build runs on the same type.",
        json_schema_extra={"default": {}},
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Triton server image; unset means the operator's configured default.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory requests and limits of the Triton container."
    )
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        default=None,
        max_length=16,
        description="Extra node labels to select on, added to the GPU type's label.",
        json_schema_extra=cel.validations(
            cel.rule(f"!('{ACCELERATOR_LABEL}' in self)", "set the GPU with serving.gpu.type")
        ),
    )
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=16, description="Extra tolerations, added to the GPU toleration."
    )
    max_queue_delay: Duration = Field(
        default="100ms",
        description="How long Triton's dynamic batcher may hold a request to fill a batch (0s disables waiting).",
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> ServingSpec:
        if ACCELERATOR_LABEL in (self.node_selector or {}):
            raise ValueError("set the GPU with serving.gpu.type")
        return self

"""``spec.serving``: how Triton runs the engines; changes here roll the pods without a rebuild."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import IMAGE_PATTERN, ApiModel, Quantity
from diffusion_operator.api.durations import Duration
from diffusion_operator.api.gpus import ACCELERATOR_LABEL, DEFAULT_GPU_TYPE, GPU_RESOURCE, GpuType
from diffusion_operator.api.labels import LabelKey, LabelValue, check_label_keys, label_keys_rule
from diffusion_operator.api.quantity import parse_quantity
from diffusion_operator.api.spec_network_policy import NetworkPolicySpec

#: Container resources the spec may set (Triton's, the build's); GPUs are the operator's: serving.gpu.count
#: for Triton, one for a build.
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
_RESOURCE_NAMES_CEL = cel.cel_string_list(list(RESOURCE_NAMES))
#: Kubernetes stores tolerationSeconds as int64; a year is already more than any eviction delay.
MAX_TOLERATION_SECONDS = 2**31 - 1
_NO_GPUS = "GPUs are not set in resources: serving.gpu.count sets Triton's, and a build uses one"


class GpuSpec(ApiModel):
    """The GPU every serving pod (and the engine build) runs on."""

    type: GpuType = Field(
        default=DEFAULT_GPU_TYPE,
        description="GPU type, as GKE's cloud.google.com/gke-accelerator node label names it.",
    )
    count: int = Field(default=1, ge=1, le=8, description="GPUs per serving pod (1..8).")


def _resource_map_rules() -> dict[str, Any]:
    return cel.validations(
        cel.rule(f"!('{GPU_RESOURCE}' in self)", _NO_GPUS),
        cel.rule(
            f"self.all(k, k in {_RESOURCE_NAMES_CEL})", f"resource names must be one of {', '.join(RESOURCE_NAMES)}"
        ),
    )


class ResourceRequirements(ApiModel):
    """CPU, memory and ephemeral storage of a container: Triton's (serving.resources), the build's
    (engine.buildResources). GPUs are never set here: serving.gpu.count gives Triton's, a build uses one.

    The rules are the Pod API's own (known names, requests <= limits), checked at admission so that a
    spec the API server accepts never renders a Deployment or a Job it would refuse.
    """

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "!has(self.limits) || !has(self.requests) || self.requests.all(k, !(k in self.limits)"
                " || !isQuantity(string(self.requests[k])) || !isQuantity(string(self.limits[k]))"
                " || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",
                "each request must be less than or equal to its limit",
                field_path=".requests",
                reason="FieldValueInvalid",
            ),
        )
    )

    limits: dict[str, Quantity] | None = Field(
        default=None,
        max_length=8,
        description="Resource limits, e.g. {cpu: 4, memory: 32Gi} (cpu, memory, ephemeral-storage).",
        json_schema_extra=_resource_map_rules(),
    )
    requests: dict[str, Quantity] | None = Field(
        default=None,
        max_length=8,
        description="Resource requests, e.g. {cpu: 2, memory: 16Gi} (cpu, memory, ephemeral-storage).",
        json_schema_extra=_resource_map_rules(),
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> ResourceRequirements:
        limits, requests = self.limits or {}, self.requests or {}
        if GPU_RESOURCE in limits or GPU_RESOURCE in requests:
            raise ValueError(_NO_GPUS)
        if not set(limits) | set(requests) <= set(RESOURCE_NAMES):
            raise ValueError(f"resource names must be one of {', '.join(RESOURCE_NAMES)}")
        if any(parse_quantity(requests[k]) > parse_quantity(limits[k]) for k in requests if k in limits):
            raise ValueError("each request must be less than or equal to its limit")
        return self


class Toleration(ApiModel):
    """A pod toleration, added to the GPU toleration the operator always sets (the Pod API's rules)."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "(has(self.key) && size(self.key) > 0) || self.operator == 'Exists'",
                "operator must be Exists when key is unset (a toleration of every taint)",
                field_path=".operator",
                reason="FieldValueInvalid",
            ),
            cel.rule(
                "self.operator != 'Exists' || !has(self.value) || size(self.value) == 0",
                "value must be unset when operator is Exists",
                field_path=".value",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds needs effect NoExecute",
                field_path=".tolerationSeconds",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.key) || !self.key.contains('/') || self.key.indexOf('/') <= 253",
                "the key's prefix must be a DNS subdomain of at most 253 characters",
                field_path=".key",
                reason="FieldValueInvalid",
            ),
        )
    )

    key: LabelKey | None = Field(
        default=None, description="Taint key the toleration applies to (a label key); unset matches every key."
    )
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists or Equal.")
    value: LabelValue | None = Field(default=None, description="Taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; unset tolerates all effects."
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_TOLERATION_SECONDS,
        description="For NoExecute: how long the pod stays bound after the taint appears.",
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> Toleration:
        if not self.key and self.operator != "Exists":
            raise ValueError("operator must be Exists when key is unset")
        if self.operator == "Exists" and self.value:
            raise ValueError("value must be unset when operator is Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds needs effect NoExecute")
        check_label_keys([self.key] if self.key else [], "key")
        return self


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
        pattern=IMAGE_PATTERN,
        description="Triton server image; unset means the operator's configured default.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory requests and limits of the Triton container."
    )
    node_selector: dict[str, LabelValue] | None = Field(
        default=None,
        max_length=16,
        description="Extra node labels to select on, added to the GPU type's label.",
        json_schema_extra=cel.validations(
            cel.rule(f"!('{ACCELERATOR_LABEL}' in self)", "set the GPU with serving.gpu.type"),
            label_keys_rule("nodeSelector"),
        ),
    )
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=16, description="Extra tolerations, added to the GPU toleration."
    )
    max_queue_delay: Duration = Field(
        default="100ms",
        description="How long Triton's dynamic batcher may hold a request to fill a batch (0s disables waiting).",
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="An optional NetworkPolicy: only declared clients reach Triton, only Prometheus its metrics.",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> ServingSpec:
        if ACCELERATOR_LABEL in (self.node_selector or {}):
            raise ValueError("set the GPU with serving.gpu.type")
        check_label_keys(self.node_selector or {}, "nodeSelector")
        return self

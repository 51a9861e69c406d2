"""``DiffusionService.spec``: the contract users write against, and the single source of the CRD schema.

Every field carries its description, default and bounds here; cross-field rules are CEL next to the
model they span (see ``cel.py``) and mirrored by pydantic validators, so a spec the operator parses
has passed the same rules the API server ran. Field names are snake_case in Python and camelCase
on the wire (``by_alias``). Strings and lists carry ``maxLength``/``maxItems`` so that the API server
can bound the cost of every CEL rule. ``spec.serving`` and ``spec.autoscaling`` live in their own
modules (``spec_serving``, ``spec_autoscaling``); this one holds the model, engine and pipeline parts
and the rules that span them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import DNS_SUBDOMAIN_PATTERN, IMAGE_PATTERN, SECRET_KEY_PATTERN, ApiModel
from diffusion_operator.api.durations import Duration, parse_duration
from diffusion_operator.api.gpus import fp8_capable_types
from diffusion_operator.api.resolution import Resolution
from diffusion_operator.api.spec_api import ApiSpec
from diffusion_operator.api.spec_autoscaling import AutoscalingSpec
from diffusion_operator.api.spec_quality import QUANTIZED_COMPONENTS_FIELD, QualityGateSpec, QuantizedComponents
from diffusion_operator.api.spec_serving import ResourceRequirements, ServingSpec
from engine_builder.plan import (
    DEFAULT_INPAINT_SOURCE,
    DEFAULT_PIPELINES,
    FP8_MIN_COMPUTE_CAPABILITY,
    INPAINT_SOURCE_PATTERN,
    SEGMENTATION_SOURCE_PATTERN,
    SOURCE_PATTERN,
    TINY_INPAINT_SOURCE,
    TINY_SOURCE,
    Pipeline,
    Precision,
)

#: Used when neither ``spec.replicas`` nor the autoscaler says otherwise.
DEFAULT_REPLICAS = 1


class SecretKeyRef(ApiModel):
    """A key of a Secret in the service's namespace; only the reference is stored, never the value."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the Secret."
    )
    key: str = Field(
        default="token",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret whose value is the token (e.g. a Hugging Face token).",
    )


class ModelSpec(ApiModel):
    """Where the SDXL weights come from."""

    source: str = Field(
        max_length=1024,
        pattern=SOURCE_PATTERN,
        description=(
            "Model source URI: hf://<org>/<repo>@<revision>, pvc://<claim>/<path>, s3://<bucket>/<prefix>, "
            "gs://<bucket>/<prefix> or builtin://tiny-sdxl (a tiny model trained on coloured-shape scenes, for local "
            "use; builtin://tiny-sdxl-random is the same architecture untrained; builtin://sdxl-architecture is SDXL "
            "base's full-size architecture with random weights, for tests and benchmarks: its images are noise)."
        ),
        json_schema_extra=cel.validations(
            cel.rule(
                "self.startsWith('hf://') || self.startsWith('pvc://') || self.startsWith('s3://')"
                " || self.startsWith('gs://') || self.startsWith('builtin://')",
                "source scheme must be one of hf://, pvc://, s3://, gs:// or builtin://",
            )
        ),
    )
    credentials_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the credentials the engine builder needs to read the source.",
    )
    inpaint_source: str | None = Field(
        default=None,
        max_length=1024,
        pattern=INPAINT_SOURCE_PATTERN,
        description=(
            "photoshoot pipeline: where the SDXL inpainting UNet (unet/ of a diffusers pipeline, 9 input channels) "
            f"comes from. Unset: {TINY_INPAINT_SOURCE} for {TINY_SOURCE}, else {DEFAULT_INPAINT_SOURCE}."
        ),
    )
    segmentation_source: str | None = Field(
        default=None,
        max_length=1024,
        pattern=SEGMENTATION_SOURCE_PATTERN,
        description=(
            "photoshoot pipeline: the foreground segmentation (background removal) model, a directory with "
            "model.onnx and segmenter.json (pvc://, hf://), or builtin://tiny-segmenter (trained on procedural "
            "product photos; builtin://tiny-segmenter-white removes a white studio background). Required for the "
            "photoshoot pipeline unless source is builtin://."
        ),
    )


class EngineSpec(ApiModel):
    """What the TensorRT engines are built for, and how the build runs.

    Precision, resolutions, batch, execution mode and quantized components change the engine cache key;
    the build's own settings (builderImage, buildTimeout, buildResources) and qualityGate do not.
    """

    precision: Precision = Field(
        default="fp16",
        description="Engine precision; fp8 needs a GPU with compute capability >= 8.9 (L4, L40S, H100).",
    )
    resolutions: list[Resolution] = Field(
        default_factory=lambda: [Resolution(width=1024, height=1024)],
        min_length=1,
        max_length=8,
        description="Image sizes to build optimisation profiles for.",
        json_schema_extra={
            "default": [{"width": 1024, "height": 1024}],
            "x-kubernetes-list-type": "atomic",
            **cel.validations(
                cel.rule(
                    "self.all(r, self.exists_one(o, o.width == r.width && o.height == r.height))",
                    "resolutions must be unique",
                )
            ),
        },
    )
    max_batch_size: int = Field(default=4, ge=1, le=16, description="Largest batch the engines accept (1..16).")
    builder_image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=IMAGE_PATTERN,
        description="Engine builder image; unset means the operator's configured default.",
    )
    execution_mode: Literal["BLS", "InProcess"] = Field(
        default="BLS",
        description=(
            "How the sdxl model runs the components. BLS: each component (and every UNet step) is its own "
            "Triton model, so concurrent requests share UNet steps (best under load; ~2 ms per step). "
            "InProcess: one batched model runs them all in-process (~5 ms per request whatever the step count; "
            "text2image only)."
        ),
    )
    quantized_components: QuantizedComponents = QUANTIZED_COMPONENTS_FIELD
    quality_gate: QualityGateSpec = Field(
        default_factory=QualityGateSpec,
        description="What the built engines' images must score against the fp32 reference before they serve.",
        json_schema_extra={"default": {}},
    )
    build_timeout: Duration = Field(
        default="2h",
        description="How long one engine build may run before its Job is stopped (Go duration, e.g. 2h).",
        json_schema_extra=cel.validations(cel.positive_duration("buildTimeout")),
    )
    build_resources: ResourceRequirements | None = Field(
        default=None,
        description=(
            "CPU, memory and ephemeral storage of the build pod (its one GPU is implied). Unset memory: the "
            "operator sizes it from the measured peak of the model, backend and precision plus headroom, with "
            "the limit equal to the request; unset cpu: the operator's defaults.buildRequests. A build that "
            "no node of the GPU pool can hold is reported (EngineReady=False, BuildWontFit) instead of created. "
            "Used when a build's Job is created: it does not change the cache key or an existing Job, "
            "except that a build OOMKilled under a lower memory limit than it gets now is deleted and built "
            "again (EngineReady=False, BuildRetried)."
        ),
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> EngineSpec:
        sizes = [(r.width, r.height) for r in self.resolutions]
        if len(set(sizes)) != len(sizes):
            raise ValueError("resolutions must be unique")
        if parse_duration(self.build_timeout) <= timedelta(0):
            raise ValueError("buildTimeout must be a duration above zero")
        return self


class UpscaleSpec(ApiModel):
    """Optional super-resolution after the SDXL pipeline."""

    factor: Literal[2, 4] = Field(default=2, description="Upscale factor: 2 or 4.")


class PipelineSpec(ApiModel):
    """Request-time defaults of the serving pods; never trigger an engine rebuild."""

    steps: int = Field(default=30, ge=1, le=150, description="Default denoising steps (1..150).")
    guidance_scale: float = Field(default=5.0, ge=0, le=30, description="Default classifier-free guidance (0..30).")
    scheduler: Literal["euler", "euler_a", "ddim", "dpmpp_2m"] = Field(
        default="euler", description="Default noise scheduler."
    )
    upscale: UpscaleSpec | None = Field(default=None, description="Upscale generated images; unset means no upscale.")


_FP8_TYPES = fp8_capable_types()
_API_SIZES_IN_RANGE = (
    "api.sizes must lie within the engines' range (each width and height between the smallest and largest of "
    "engine.resolutions): the engines cannot serve other sizes"
)
_API_MAX_STEPS_BELOW_DEFAULT = (
    "api.maxSteps must be at least pipeline.steps (a request without num_inference_steps is served with those)"
)


class DiffusionServiceSpec(ApiModel):
    """An SDXL service (text-to-image, product photoshoot): engines built for one GPU type, served by Triton."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                f"!(has(self.engine) && self.engine.precision == 'fp8') "
                f"|| self.serving.gpu.type in {cel.cel_string_list(_FP8_TYPES)}",
                f"precision fp8 needs a GPU with compute capability >= {FP8_MIN_COMPUTE_CAPABILITY} "
                f"(serving.gpu.type one of {', '.join(_FP8_TYPES)})",
                field_path=".engine.precision",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.pipelines) || !('photoshoot' in self.pipelines) || has(self.model.segmentationSource)"
                " || self.model.source.startsWith('builtin://')",
                "the photoshoot pipeline needs model.segmentationSource (a background-removal ONNX model)",
                field_path=".model.segmentationSource",
                reason="FieldValueRequired",
            ),
            cel.rule(
                "!has(self.engine) || !has(self.engine.executionMode) || self.engine.executionMode != 'InProcess'"
                " || !has(self.pipelines) || !('photoshoot' in self.pipelines)",
                "engine.executionMode InProcess serves text2image only; use BLS with the photoshoot pipeline",
                field_path=".engine.executionMode",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.replicas) || !has(self.autoscaling) || !has(self.autoscaling.enabled)"
                " || !self.autoscaling.enabled",
                "replicas must be unset when autoscaling.enabled is true (the autoscaler owns replicas)",
                field_path=".replicas",
                reason="FieldValueForbidden",
            ),
            cel.rule(
                "!has(self.autoscaling) || !has(self.autoscaling.overload) || !has(self.autoscaling.overload.enabled)"
                " || !self.autoscaling.overload.enabled || !has(self.autoscaling.overload.minSteps)"
                " || self.autoscaling.overload.minSteps < (has(self.pipeline) && has(self.pipeline.steps)"
                f" ? self.pipeline.steps : {PipelineSpec().steps})",
                "autoscaling.overload.minSteps must be below pipeline.steps (the tier serves fewer steps)",
                field_path=".autoscaling.overload.minSteps",
                reason="FieldValueInvalid",
            ),
            cel.rule(
                "!has(self.api) || !has(self.api.sizes) || !has(self.engine) || !has(self.engine.resolutions)"
                " || self.api.sizes.all(s,"
                " self.engine.resolutions.exists(r, r.width <= s.width)"
                " && self.engine.resolutions.exists(r, r.width >= s.width)"
                " && self.engine.resolutions.exists(r, r.height <= s.height)"
                " && self.engine.resolutions.exists(r, r.height >= s.height))",
                _API_SIZES_IN_RANGE,
                field_path=".api.sizes",
                reason="FieldValueInvalid",
            ),
            cel.rule(
                "!has(self.api) || !has(self.api.maxSteps) || self.api.maxSteps >= (has(self.pipeline)"
                f" && has(self.pipeline.steps) ? self.pipeline.steps : {PipelineSpec().steps})",
                _API_MAX_STEPS_BELOW_DEFAULT,
                field_path=".api.maxSteps",
                reason="FieldValueInvalid",
            ),
        )
    )

    model: ModelSpec = Field(description="Where the model weights come from.")
    engine: EngineSpec = Field(
        default_factory=EngineSpec,
        description="Engine build settings; changing them builds new engines.",
        json_schema_extra={"default": {}},
    )
    serving: ServingSpec = Field(
        default_factory=ServingSpec,
        description="Serving settings; changing them rolls the Triton pods.",
        json_schema_extra={"default": {}},
    )
    pipeline: PipelineSpec = Field(
        default_factory=PipelineSpec,
        description="Request-time pipeline defaults.",
        json_schema_extra={"default": {}},
    )
    pipelines: list[Pipeline] = Field(
        default_factory=lambda: list(DEFAULT_PIPELINES),
        min_length=1,
        max_length=2,
        description=(
            "What the service serves, each a Triton model in the same repository: text2image (model sdxl) and "
            "photoshoot (model sdxl-photoshoot: a product photo placed in an SDXL-inpainted scene). The builder "
            "exports and Triton loads only these; changing them builds new engines."
        ),
        json_schema_extra={"default": list(DEFAULT_PIPELINES), "x-kubernetes-list-type": "set"},
    )
    replicas: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Manual replica count (the /scale subresource); must be unset when autoscaling is enabled.",
    )
    autoscaling: AutoscalingSpec = Field(
        default_factory=AutoscalingSpec,
        description="Queue-latency autoscaling.",
        json_schema_extra={"default": {}},
    )
    api: ApiSpec | None = Field(
        default=None,
        description=(
            "An OpenAI-compatible images API at the service's edge, with API keys and per-key limits "
            "(served by the activator; docs/openai-api.md). Unset: off."
        ),
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> DiffusionServiceSpec:
        if self.engine.precision == "fp8" and self.serving.gpu.type not in _FP8_TYPES:
            raise ValueError(
                f"precision fp8 needs a GPU with compute capability >= {FP8_MIN_COMPUTE_CAPABILITY}, "
                f"not {self.serving.gpu.type}"
            )
        if self.replicas is not None and self.autoscaling.enabled:
            raise ValueError("replicas must be unset when autoscaling.enabled is true")
        if self.autoscaling.overload.enabled and self.autoscaling.overload.min_steps >= self.pipeline.steps:
            raise ValueError("autoscaling.overload.minSteps must be below pipeline.steps (the tier serves fewer steps)")
        if self.engine.execution_mode == "InProcess" and "photoshoot" in self.pipelines:
            raise ValueError(
                "engine.executionMode InProcess serves text2image only; use BLS with the photoshoot pipeline"
            )
        if len(set(self.pipelines)) != len(self.pipelines):
            raise ValueError("pipelines must be unique")
        if ("photoshoot" in self.pipelines and self.model.segmentation_source is None
                and not self.model.source.startswith("builtin://")):
            raise ValueError("the photoshoot pipeline needs model.segmentationSource (a background-removal ONNX model)")
        if self.api is not None:
            self._check_api(self.api)
        return self

    def _check_api(self, api: ApiSpec) -> None:
        widths = [r.width for r in self.engine.resolutions]
        heights = [r.height for r in self.engine.resolutions]
        for size in api.sizes or ():
            if not (min(widths) <= size.width <= max(widths) and min(heights) <= size.height <= max(heights)):
                raise ValueError(f"{size.size}: {_API_SIZES_IN_RANGE}")
        if api.max_steps is not None and api.max_steps < self.pipeline.steps:
            raise ValueError(_API_MAX_STEPS_BELOW_DEFAULT)

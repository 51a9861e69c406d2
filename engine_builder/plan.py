"""The build plan: the one contract between the operator (who writes it) and the builder (who runs it).

It holds only what changes the engines, so its cache key is content-addressed over exactly those
inputs: model source and revision, precision, resolutions, max batch, TensorRT version, the GPU's
compute capability and which pipelines (text-to-image, product photoshoot) the repository serves,
with the photoshoot's inpainting UNet and segmentation model sources. Pipeline settings (steps,
guidance, scheduler, upscale factor) are request-time defaults of the serving pods and never
trigger a rebuild.

This module depends on pydantic alone, so the operator can import it without the ML stack.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine_builder.quality_settings import QualityGateSettings

Precision = Literal["fp16", "int8", "fp8"]
#: Components an 8-bit plan may quantize (components.ComponentName; this module stays pydantic-only).
QuantizableComponent = Literal["clip", "clip2", "unetxl", "vae"]
#: ModelOpt's recipe for SDXL: the UNet alone (quantize.py says why).
DEFAULT_QUANTIZED: tuple[QuantizableComponent, ...] = ("unetxl",)
#: How the ``sdxl`` model runs the components (engine_builder/repository/execution.py).
ExecutionMode = Literal["bls", "in_process"]
#: What the repository serves: each pipeline's entry model is ``layout.ENTRY_MODELS[pipeline]``.
Pipeline = Literal["text2image", "photoshoot"]
PIPELINES: tuple[Pipeline, ...] = ("text2image", "photoshoot")
DEFAULT_PIPELINES: tuple[Pipeline, ...] = ("text2image",)
SOURCE_PATTERN = r"^(hf://[\w.-]+/[\w.-]+(@[\w.-]+)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/.*|s3://[a-z0-9][a-z0-9.-]+(/.*)?|gs://[a-z0-9][a-z0-9._-]+(/.*)?|builtin://(tiny-sdxl(-random)?|sdxl-architecture))$"
#: The SDXL inpainting UNet (9 input channels): any SDXL source scheme, or the tiny builtin variant.
INPAINT_SOURCE_PATTERN = SOURCE_PATTERN.replace("builtin://(tiny-sdxl(-random)?|sdxl-architecture))$",
                                                "builtin://(tiny-sdxl-inpaint(-random)?|sdxl-architecture-inpaint))$")
#: A foreground segmentation model: a directory with ``model.onnx`` + ``segmenter.json``, or the tiny one.
SEGMENTATION_SOURCE_PATTERN = (
    r"^(hf://[\w.-]+/[\w.-]+(@[\w.-]+)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/.*|builtin://tiny-segmenter(-white)?)$"
)
#: Where the photoshoot's sources default to (the operator fills them into plans; see ``photoshoot_sources``).
TINY_SOURCE = "builtin://tiny-sdxl"
#: The same tiny architecture with its random initial weights: what a quality gate must refuse.
TINY_RANDOM_SOURCE = "builtin://tiny-sdxl-random"
RANDOM_SUFFIX = "-random"
TINY_INPAINT_SOURCE = "builtin://tiny-sdxl-inpaint"
TINY_SEGMENTATION_SOURCE = "builtin://tiny-segmenter"
#: The public SDXL inpainting checkpoint (its UNet only; text encoders and VAE come from SDXL base).
DEFAULT_INPAINT_SOURCE = "hf://diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
#: SDXL base's full-size architecture with random weights (engine_builder/sdxl_architecture.py).
ARCHITECTURE_SOURCE = "builtin://sdxl-architecture"
ARCHITECTURE_INPAINT_SOURCE = "builtin://sdxl-architecture-inpaint"
#: FP8 tensor cores exist from Ada (8.9) on; below that an fp8 plan cannot be built.
FP8_MIN_COMPUTE_CAPABILITY = 8.9
#: Plans without TensorRT (CPU path) record this as their TensorRT version.
NO_TENSORRT = "none"
#: Bump when the builder's output format changes so old caches are not reused.
PLAN_FORMAT = 1


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(ge=256, le=1536, multiple_of=8)
    height: int = Field(ge=256, le=1536, multiple_of=8)


class CredentialsRef(BaseModel):
    """Where the builder finds the model source's token: an env var filled from a Secret key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str = Field(default="MODEL_SOURCE_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]*$")


class BuildPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = PLAN_FORMAT
    source: str = Field(pattern=SOURCE_PATTERN, description="model source URI")
    credentials: CredentialsRef | None = None
    precision: Precision = "fp16"
    resolutions: tuple[Resolution, ...] = Field(default=(Resolution(width=1024, height=1024),), min_length=1)
    max_batch_size: int = Field(default=4, ge=1, le=16)
    gpu_type: str = Field(default="nvidia-l4", min_length=1)
    compute_capability: float = Field(default=8.9, ge=5.0, le=12.0)
    tensorrt_version: str = Field(default=NO_TENSORRT, min_length=1)
    #: "tensorrt" builds engines on the GPU; "onnxruntime" is the CPU path (demo, CI).
    backend: Literal["tensorrt", "onnxruntime"] = "tensorrt"
    #: "bls" calls one Triton model per component and step (the UNet batches steps across requests);
    #: "in_process" runs whole pipelines in one batched model. Not an engine input, but it changes the
    #: published repository, so it is keyed, except at the default (BLS caches keep their keys).
    execution_mode: ExecutionMode = "bls"
    #: Pipelines to export and serve; kept sorted so the order never changes the key.
    pipelines: tuple[Pipeline, ...] = Field(default=DEFAULT_PIPELINES, min_length=1)
    #: photoshoot only: where the SDXL inpainting UNet (``unet/`` of a diffusers pipeline) comes from.
    inpaint_source: str | None = Field(default=None, pattern=INPAINT_SOURCE_PATTERN)
    #: photoshoot only: the foreground segmentation (background removal) model.
    segmentation_source: str | None = Field(default=None, pattern=SEGMENTATION_SOURCE_PATTERN)
    #: int8/fp8 only: which components are quantized (keyed only when not the default UNet alone).
    quantized_components: tuple[QuantizableComponent, ...] = Field(default=DEFAULT_QUANTIZED, min_length=1)
    #: The quality gate (quality/gate.py). It never changes what is built, so it is not in the cache key.
    quality_gate: QualityGateSettings = Field(default_factory=QualityGateSettings)

    @field_validator("quantized_components")
    @classmethod
    def _unique_components(cls, value: tuple[QuantizableComponent, ...]) -> tuple[QuantizableComponent, ...]:
        return tuple(sorted(set(value), key=("clip", "clip2", "unetxl", "vae").index))

    @field_validator("pipelines")
    @classmethod
    def _unique_pipelines(cls, value: tuple[Pipeline, ...]) -> tuple[Pipeline, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"pipelines must be unique, got {list(value)}")
        return tuple(p for p in PIPELINES if p in value)

    @field_validator("resolutions")
    @classmethod
    def _unique_resolutions(cls, value: tuple[Resolution, ...]) -> tuple[Resolution, ...]:
        return tuple(sorted(set(value), key=lambda r: (r.width, r.height)))

    @model_validator(mode="after")
    def _precision_fits_gpu(self) -> BuildPlan:
        if self.precision == "fp8" and self.compute_capability < FP8_MIN_COMPUTE_CAPABILITY:
            raise ValueError(
                f"precision: fp8 needs compute capability >= {FP8_MIN_COMPUTE_CAPABILITY}, "
                f"but {self.gpu_type} has {self.compute_capability}"
            )
        photoshoot = "photoshoot" in self.pipelines
        for name in ("inpaint_source", "segmentation_source"):
            if photoshoot and getattr(self, name) is None:
                raise ValueError(f"{name}: required when pipelines include photoshoot")
            if not photoshoot and getattr(self, name) is not None:
                raise ValueError(f"{name}: only used by the photoshoot pipeline, which is not in pipelines")
        return self

    @model_validator(mode="after")
    def _mode_fits_pipelines(self) -> BuildPlan:
        if self.execution_mode == "in_process" and self.pipelines != DEFAULT_PIPELINES:
            raise ValueError("execution_mode: in_process runs the text2image pipeline only (photoshoot calls "
                             f"the component models), but pipelines are {list(self.pipelines)}")
        return self

    def serves(self, pipeline: Pipeline) -> bool:
        return pipeline in self.pipelines

    @property
    def source_revision(self) -> str | None:
        match = re.match(r"^hf://[^@]+@(.+)$", self.source)
        return match.group(1) if match else None

    def cache_key(self) -> str:
        """sha256 over the engine-affecting fields; credentials never change what is built.

        A text-to-image-only plan hashes exactly as before pipelines existed, so upgrading the
        operator does not rebuild every existing engine; any other choice of pipelines is in the key.
        """
        excluded = {"credentials", "gpu_type", "quality_gate"}
        if self.quantized_components == DEFAULT_QUANTIZED:
            excluded.add("quantized_components")
        if self.pipelines == DEFAULT_PIPELINES:
            excluded |= {"pipelines", "inpaint_source", "segmentation_source"}
        if self.execution_mode == "bls":
            excluded.add("execution_mode")
        material = self.model_dump(mode="json", exclude=excluded)
        digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
        return f"sdxl-{digest[:16]}"

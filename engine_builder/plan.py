"""The build plan: the one contract between the operator (who writes it) and the builder (who runs it).

It holds only what changes the engines, so its cache key is content-addressed over exactly those
inputs: model source and revision, precision, resolutions, max batch, TensorRT version and the GPU's
compute capability. Pipeline settings (steps, guidance, scheduler, upscale factor) are request-time
defaults of the serving pods and never trigger a rebuild.

This module depends on pydantic alone, so the operator can import it without the ML stack.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Precision = Literal["fp16", "int8", "fp8"]
SOURCE_PATTERN = r"^(hf://[\w.-]+/[\w.-]+(@[\w.-]+)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/.*|s3://[a-z0-9][a-z0-9.-]+(/.*)?|gs://[a-z0-9][a-z0-9._-]+(/.*)?|builtin://tiny-sdxl)$"
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
        return self

    @property
    def source_revision(self) -> str | None:
        match = re.match(r"^hf://[^@]+@(.+)$", self.source)
        return match.group(1) if match else None

    def cache_key(self) -> str:
        """sha256 over the engine-affecting fields; credentials never change what is built."""
        material = self.model_dump(mode="json", exclude={"credentials", "gpu_type"})
        digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
        return f"sdxl-{digest[:16]}"

"""``spec.engine.qualityGate``: what an engine must score before it serves, and ``quantizedComponents``.

The build Job renders a fixed prompt set through the fp32 reference pipeline and through what it
built (every precision, the CPU ONNX Runtime path too) and refuses to publish an engine that misses
a threshold; the previous engine keeps serving (engine_builder/quality/). Defaults, and why:

- ``minPsnrDb`` 30 and ``minSsim`` 0.95, on the worst image: measured on tiny-SDXL at 64 px (random
  weights, CPU), ModelOpt's default int8 recipe (UNet only) scored 36.1 dB / 0.992, the UNet and the
  VAE in int8 21.5 dB / 0.822, and the fp32 ONNX export 89 dB / 1.000. 30 dB is also where image
  codecs call a copy visually lossless. Re-measure when the model changes.
- ``maxClipDropPercent`` 0.2: MLPerf Inference SDXL's accepted window is +-0.2 % of the reference's CLIP
  score (and +-2 % FID, which needs thousands of images: not gated here).
- ``minStepsSsim`` 0.80: a fewer-step image is compared with the full-step reference, which differs more
  than an engine from its reference does; the curve's lowest passing step count is in status.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import ApiModel
from engine_builder.plan import DEFAULT_QUANTIZED, QuantizableComponent
from engine_builder.quality_settings import MAX_PROMPT_CHARS, MAX_PROMPTS, MLPERF_CLIP_WINDOW_PERCENT

CLIP_SOURCE_PATTERN = r"^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/.+$"
QUANTIZED_COMPONENTS_FIELD = Field(
    default_factory=lambda: list(DEFAULT_QUANTIZED),
    min_length=1,
    max_length=4,
    description=(
        "int8/fp8: the components ModelOpt quantizes. The default, the UNet alone, is NVIDIA's SDXL recipe; "
        "adding the VAE or the text encoders is faster still but costs image quality the quality gate may refuse. "
        "Changing it builds new engines."
    ),
    json_schema_extra={"default": list(DEFAULT_QUANTIZED), "x-kubernetes-list-type": "set"},
)
QuantizedComponents = list[QuantizableComponent]


class PromptSpec(ApiModel):
    """One prompt of the gate's fixed set; the seed fixes its initial latents."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="The prompt text.")
    seed: int = Field(ge=0, le=2**53, description="Seed of the initial latents (0..2^53).")


class QualityGateSpec(ApiModel):
    """Thresholds an engine's images must meet against the fp32 reference before the engine serves."""

    enabled: bool = Field(default=True, description="Score every build before it publishes; false skips the gate.")
    on_unavailable: Literal["Block", "Publish"] = Field(
        default="Block",
        description=("When the gate cannot score (empty prompts, a CLIP model that does not load, a crash): Block "
                     "keeps the previous engine serving (QualityGateUnavailable), Publish serves the new one anyway."),
    )
    min_psnr_db: float = Field(default=30.0, ge=0, le=100, description="Worst image's PSNR to the reference (dB).")
    min_ssim: float = Field(default=0.95, ge=0, le=1, description="Worst image's SSIM to the reference (0..1).")
    max_clip_drop_percent: float = Field(
        default=MLPERF_CLIP_WINDOW_PERCENT, ge=0, le=100,
        description="With clipSource: how far the mean CLIP score may fall below the reference's (%, MLPerf: 0.2).",
    )
    max_adherence_drop_points: float = Field(
        default=10.0, ge=0, le=100,
        description="Built-in model: how many points the scene checker's pass rate may fall below the reference's.",
    )
    min_steps_ssim: float = Field(
        default=0.80, ge=0, le=1,
        description=("Quality curve: a step count passes when its worst image's SSIM to the full-step reference "
                     "is at least this."),
    )
    clip_source: str | None = Field(
        default=None, max_length=1024, pattern=CLIP_SOURCE_PATTERN,
        description=("pvc://<claim>/<file>: open_clip ViT-B-32 'openai' weights for MLPerf's CLIP score "
                     "(100 x cosine). Unset: no CLIP score."),
    )
    prompts: list[PromptSpec] | None = Field(
        default=None, min_length=1, max_length=MAX_PROMPTS,
        description="The fixed prompt set (unset: the builder's built-in set of 4 prompts).",
        json_schema_extra={
            "x-kubernetes-list-type": "atomic",
            **cel.validations(cel.rule(
                "self.all(p, self.exists_one(o, o.prompt == p.prompt && o.seed == p.seed))",
                "prompts must be unique (prompt and seed)",
                reason="FieldValueDuplicate",
            )),
        },
    )
    calibration_attempts: int = Field(
        default=3, ge=1, le=10,
        description="int8/fp8: calibrate up to this many times (other calibration latents) and keep the best passing.",
    )
    image_size: int | None = Field(
        default=None, ge=64, le=1536, multiple_of=8,
        description="Square size of the gate's images; unset: 64 on CPU builds, the smallest resolution on GPUs.",
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> QualityGateSpec:
        pairs = [(p.prompt, p.seed) for p in self.prompts or []]
        if len(set(pairs)) != len(pairs):
            raise ValueError("prompts must be unique (prompt and seed)")
        return self

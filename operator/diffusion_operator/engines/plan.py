"""``plan_for``: the engine build plan of a spec, the only input to the cache key.

The plan takes exactly the engine-affecting parts of the spec (model source, precision, resolutions,
max batch) plus what the cluster decides (the GPU's compute capability from the catalogue and the
TensorRT version of the builder image), and which pipelines the repository serves with the photoshoot's
resolved sources (defaults filled in here, so the key names what is really built). Serving and
pipeline settings never reach the key, so editing them can never trigger a rebuild, and two services
with the same engine spec share one build. The quality gate's settings (with the pipeline's steps it
scores) ride along in the plan outside the key: a gate that failed published nothing to reuse.
"""

from __future__ import annotations

from typing import Literal

from diffusion_operator.api.gpus import gpu_model
from diffusion_operator.api.spec import DiffusionServiceSpec
from engine_builder.plan import (
    ARCHITECTURE_INPAINT_SOURCE,
    ARCHITECTURE_SOURCE,
    DEFAULT_INPAINT_SOURCE,
    NO_TENSORRT,
    RANDOM_SUFFIX,
    TINY_INPAINT_SOURCE,
    TINY_RANDOM_SOURCE,
    TINY_SEGMENTATION_SOURCE,
    TINY_SOURCE,
    BuildPlan,
    CredentialsRef,
    Resolution,
)
from engine_builder.quality_settings import QualityGateSettings, curve_step_counts

Backend = Literal["tensorrt", "onnxruntime"]

#: The env var the build Job fills from ``model.credentialsSecretRef``; the plan only names it.
CREDENTIALS_ENV = CredentialsRef().env


def photoshoot_sources(spec: DiffusionServiceSpec) -> tuple[str | None, str | None]:
    """(inpaint, segmentation) sources of the photoshoot pipeline, defaults filled; (None, None) without it.

    The tiny model pairs with the tiny variants; a real model with the public SDXL inpainting UNet.
    There is no default real segmenter (the spec's CEL rule requires one): background removal
    models differ in licence and preprocessing, so that choice is the user's.
    """
    if "photoshoot" not in spec.pipelines:
        return None, None
    tiny = spec.model.source in (TINY_SOURCE, TINY_RANDOM_SOURCE)
    random = RANDOM_SUFFIX if spec.model.source == TINY_RANDOM_SOURCE else ""
    architecture = spec.model.source == ARCHITECTURE_SOURCE  # random full size pairs with random full size
    default = TINY_INPAINT_SOURCE + random if tiny else ARCHITECTURE_INPAINT_SOURCE if architecture \
        else DEFAULT_INPAINT_SOURCE
    inpaint = spec.model.inpaint_source or default
    # builtin:// sources may leave the segmenter out (CEL): the tiny one serves the random full size too
    segmentation = spec.model.segmentation_source or (TINY_SEGMENTATION_SOURCE if tiny or architecture else None)
    return inpaint, segmentation


def plan_for(
    spec: DiffusionServiceSpec, builder_tensorrt_version: str, backend: Backend = "tensorrt"
) -> BuildPlan:
    """The build plan for ``spec``.

    ``builder_tensorrt_version`` is what the operator knows of the builder image (from its config);
    the CPU ``onnxruntime`` backend builds no TensorRT engines, so its plans record ``none`` and a
    TensorRT upgrade does not invalidate them.
    """
    gpu = gpu_model(spec.serving.gpu.type)
    inpaint_source, segmentation_source = photoshoot_sources(spec)
    return BuildPlan(
        source=spec.model.source,
        credentials=CredentialsRef(env=CREDENTIALS_ENV) if spec.model.credentials_secret_ref else None,
        precision=spec.engine.precision,
        resolutions=tuple(Resolution(width=r.width, height=r.height) for r in spec.engine.resolutions),
        max_batch_size=spec.engine.max_batch_size,
        gpu_type=gpu.type,
        compute_capability=gpu.compute_capability,
        tensorrt_version=builder_tensorrt_version if backend == "tensorrt" else NO_TENSORRT,
        backend=backend,
        pipelines=tuple(spec.pipelines),
        inpaint_source=inpaint_source,
        segmentation_source=segmentation_source,
        execution_mode="in_process" if spec.engine.execution_mode == "InProcess" else "bls",
        quantized_components=tuple(spec.engine.quantized_components),
        quality_gate=quality_settings(spec),
    )


def quality_settings(spec: DiffusionServiceSpec) -> QualityGateSettings:
    """The gate's thresholds and the pipeline it scores: the configured steps, down to the speed tier's floor.

    The floor is ``autoscaling.overload.minSteps`` (its default when the tier is off, so the curve
    is there before anyone turns the tier on).
    """
    gate = spec.engine.quality_gate
    return QualityGateSettings(
        enabled=gate.enabled,
        on_unavailable=gate.on_unavailable,
        min_psnr_db=gate.min_psnr_db,
        min_ssim=gate.min_ssim,
        max_clip_drop_percent=gate.max_clip_drop_percent,
        max_adherence_drop_points=gate.max_adherence_drop_points,
        min_steps_ssim=gate.min_steps_ssim,
        clip_source=gate.clip_source,
        prompts=tuple(p.model_dump() for p in gate.prompts) if gate.prompts is not None else None,
        steps=spec.pipeline.steps,
        guidance_scale=spec.pipeline.guidance_scale,
        scheduler=spec.pipeline.scheduler,
        image_size=gate.image_size,
        step_counts=curve_step_counts(spec.pipeline.steps, spec.autoscaling.overload.min_steps),
        calibration_attempts=gate.calibration_attempts,
    )


def cache_key_for(spec: DiffusionServiceSpec, builder_tensorrt_version: str, backend: Backend = "tensorrt") -> str:
    """Shorthand for ``plan_for(...).cache_key()``."""
    return plan_for(spec, builder_tensorrt_version, backend).cache_key()

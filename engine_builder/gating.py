"""The build's side of the quality gate: what to render, how to load it, how to calibrate again.

quality/gate.py decides; this module hands it the build's artefacts. The candidate is what will
serve: the ONNX models ONNX Runtime runs (CPU) or the TensorRT engines (GPU), rendered by the
serving loop from a scratch copy of the ``sdxl`` model's files, at the smallest planned size (the
gate must stay cheap: a handful of prompts on the tiny model is seconds on a CPU). For 8-bit plans,
``recalibrate`` reloads the source weights, quantizes the plan's components again from other
calibration latents, exports (and on GPU builds the engines), checks parity, and returns the paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine_builder.components import COMPONENTS, UNETS, ComponentName, component_spec, trace_latent_size
from engine_builder.errors import QualityGateUnavailableError
from engine_builder.export import export_component, load_pipeline
from engine_builder.parity import check_parity
from engine_builder.pipeline import Component
from engine_builder.plan import BuildPlan
from engine_builder.profiles import LatentRange, parity_shapes, within
from engine_builder.quality.adherence import AdherenceScorer, scene_scorer
from engine_builder.quality.gate import Candidate, GateOutcome, Recalibrate, run_gate, serving_candidate
from engine_builder.quality.render import engine_components, onnx_components
from engine_builder.quality_settings import QualityGateSettings
from engine_builder.quantize import quantize_components
from engine_builder.repository.pipeline_files import write_pipeline_files
from engine_builder.scenes.checker import verdict as scene_verdict
from engine_builder.scenes.vocabulary import PromptError
from engine_builder.triton_models.local_components import load_components
from engine_builder.trt import build_engine, engine_filename, engine_parity

#: ONNX Runtime threads for the gate's sessions: its tensors are tiny on the CPU path, where more
#: threads cost synchronisation (see render.CPU_REFERENCE_THREADS), and the build Job's CPU request is small.
GATE_THREADS = 1


def quantizes(plan: BuildPlan) -> bool:
    """8-bit plans quantize: int8 everywhere, fp8 only for TensorRT (ONNX Runtime cannot run TRT's fp8 Q/DQ)."""
    return plan.precision == "int8" or (plan.precision == "fp8" and plan.backend == "tensorrt")


def calibration_latent(plan: BuildPlan, lr: LatentRange) -> tuple[int, int]:
    """Where ModelOpt calibrates: the profile's optimal latent on GPUs; on the CPU the gate's 64 px latent.

    The CPU path serves the tiny model and its gate scores 64 px images; calibrating 8 prompts x 20
    steps at 256 px took over 10 minutes of a shared 2-core machine, at 64 px it is ~16x less work.
    """
    if plan.backend == "tensorrt":
        return lr.opt_hw
    return CPU_EVALUATION_SIZE[1] // 8, CPU_EVALUATION_SIZE[0] // 8


def parity_tolerance(plan: BuildPlan, name: str, float_dtype: str) -> str:
    """A quantized component is held to the 8-bit bound (parity.py), the others to their float type."""
    return plan.precision if quantizes(plan) and name in plan.quantized_components else float_dtype


#: The CPU path renders the gate's images at 64 px: ONNX Runtime takes any size, and the gate must stay
#: seconds on a CPU (64 px is where the tiny model was made to work).
CPU_EVALUATION_SIZE = (64, 64)


def evaluation_size(plan: BuildPlan) -> tuple[int, int]:
    """(width, height): ``imageSize`` if set, else 64 px on the CPU or the smallest planned resolution on
    TensorRT (inside every optimisation profile, and the cheapest to render)."""
    if plan.quality_gate.image_size is not None:
        return plan.quality_gate.image_size, plan.quality_gate.image_size
    if plan.backend != "tensorrt":
        return CPU_EVALUATION_SIZE
    smallest = min(plan.resolutions, key=lambda r: r.width * r.height)
    return smallest.width, smallest.height


def recalibration(plan: BuildPlan, source: Path, work: Path, lr: LatentRange, float_dtype: str,
                  trt_version: str | None) -> Recalibrate:
    gpu = plan.backend == "tensorrt"

    def recalibrate(attempt: int) -> Mapping[str, Path]:
        loaded = load_pipeline(source, float_dtype, "cuda" if gpu else "cpu")
        quantize_components(loaded, plan.precision, calibration_latent(plan, lr), tuple(plan.quantized_components),
                            seed=attempt)
        paths: dict[str, Path] = {}
        for name in plan.quantized_components:
            hw = tuple(trace_latent_size(s, loaded.dims.unet_up_factor) for s in lr.opt_hw) \
                if name in UNETS else lr.opt_hw
            onnx_path = work / f"attempt-{attempt}" / "onnx" / name / "model.onnx"
            export_component(loaded, name, onnx_path, hw, float_dtype)  # type: ignore[arg-type]
            spec = component_spec(name, loaded.dims, float_dtype)
            tolerance = parity_tolerance(plan, name, float_dtype)
            if not gpu:
                check_parity(loaded.modules[name], spec, onnx_path, parity_shapes(lr), tolerance)
                paths[name] = onnx_path
                continue
            assert trt_version is not None
            engine_dir = work / f"attempt-{attempt}" / "engines" / name
            engine = build_engine(onnx_path, spec, plan, lr,
                                  engine_dir / engine_filename(name, trt_version, plan.compute_capability))
            engine_parity(engine, loaded.modules[name], spec, within(lr, parity_shapes(lr)), tolerance)
            paths[name] = engine_dir
        return paths

    return recalibrate


#: Sources that draw the scene vocabulary (engine_builder.scenes): the pixel scene checker reads their
#: prompt adherence. The random-weight variant is included on purpose: it must score (and fail) like any build.
SCENE_SOURCES = ("builtin://tiny-sdxl", "builtin://tiny-sdxl-random")


def _scene_checks(prompt: str, image: Any) -> dict[str, bool]:
    try:
        return scene_verdict(prompt, image).checks
    except PromptError as err:
        raise QualityGateUnavailableError(
            f"prompts: {prompt!r} is outside the built-in model's scene grammar ({err})") from err


def adherence_scorer(plan: BuildPlan) -> AdherenceScorer | None:
    """The scene checker for the built-in models; other sources score adherence only with a clipSource
    (run_gate loads it, and it replaces this one)."""
    return scene_scorer(_scene_checks) if plan.source in SCENE_SOURCES else None


def load_for_gate(plan: BuildPlan, trt_version: str | None) -> Any:
    """Artefacts -> components: ORT sessions for ONNX files, TensorRT engines for engine directories."""

    def load(artefacts: Mapping[str, Path]) -> Mapping[str, Component]:
        if plan.backend != "tensorrt":
            return onnx_components(artefacts, GATE_THREADS)
        assert trt_version is not None
        name_file = {name: path / engine_filename(name, trt_version, plan.compute_capability)
                     for name, path in artefacts.items()}
        return engine_components(name_file)

    return load


def gate_build(plan: BuildPlan, source: Path, dims: Any, artefacts: Mapping[ComponentName, Path], work: Path,
               lr: LatentRange, float_dtype: str, trt_version: str | None,
               pvc_root: Path | None) -> GateOutcome:
    """Run the gate on this build's text-to-image pipeline (the photoshoot reuses its components)."""
    pipeline_dir = work / "quality" / "sdxl"
    write_pipeline_files(pipeline_dir, plan, source, dims, float_dtype)
    text2image: dict[str, Path] = {name: artefacts[name] for name in COMPONENTS}
    candidate = serving_candidate(pipeline_dir, text2image, load_for_gate(plan, trt_version), evaluation_size(plan),
                                  plan.quality_gate)
    recalibrate = recalibration(plan, source, work, lr, float_dtype, trt_version) if quantizes(plan) else None
    return run_gate(plan.quality_gate, source, candidate, recalibrate=recalibrate, scorer=adherence_scorer(plan),
                    pvc_root=pvc_root, device="cuda" if plan.backend == "tensorrt" else "cpu")


def gate_settings_match(manifest: Mapping[str, Any], plan: BuildPlan) -> bool:
    """Whether a published build was gated under this plan's settings (its manifest keeps the plan it built)."""
    stored = manifest.get("plan", {}).get("quality_gate")
    return stored is not None and QualityGateSettings.model_validate(stored) == plan.quality_gate


def regate_published(plan: BuildPlan, repository: Path, source: Path, trt_version: str | None,
                     pvc_root: Path | None) -> GateOutcome:
    """The gate over an already published build, scored under this plan's settings; raises when it fails.

    Why: the engine cache key leaves the gate's settings out (they never change what is built), so two
    services can share one engine under different gates (other steps, hence another step curve and
    speed-tier floor; stricter thresholds). Each must get a verdict scored under its own settings. The
    engines are published and shared, so there is no recalibration here: a failing score refuses the
    hit for this plan only and leaves the published copy to the services it passed for.
    """
    size = evaluation_size(plan)
    if plan.backend == "tensorrt":
        engines: dict[str, Path] = {name: repository / name / "1" for name in COMPONENTS}
        candidate = serving_candidate(repository / "sdxl" / "1", engines, load_for_gate(plan, trt_version), size,
                                      plan.quality_gate)
    else:
        candidate = published_candidate(repository, size, plan.quality_gate)
    return run_gate(plan.quality_gate, source, candidate, scorer=adherence_scorer(plan), pvc_root=pvc_root,
                    device="cuda" if plan.backend == "tensorrt" else "cpu")


def published_candidate(repository: Path, size: tuple[int, int], settings: QualityGateSettings) -> Candidate:
    """A published CPU repository as the gate's candidate (``engine-builder evaluate``).

    BLS repositories keep each component's ``model.onnx`` in its own model; in-process ones list them
    in ``sdxl_inprocess/1/components/components.json`` (read by the serving code's own loader).
    """
    pipeline_dir = repository / "sdxl" / "1"
    if all((repository / name / "1" / "model.onnx").is_file() for name in COMPONENTS):
        artefacts: dict[str, Path] = {name: repository / name / "1" / "model.onnx" for name in COMPONENTS}
        return serving_candidate(pipeline_dir, artefacts, lambda paths: onnx_components(paths, GATE_THREADS), size,
                                 settings)
    in_process = repository / "sdxl_inprocess" / "1" / "components"
    if not in_process.is_dir():
        raise FileNotFoundError(f"{repository}: neither component models nor sdxl_inprocess/1/components")
    return serving_candidate(pipeline_dir, {}, lambda _: load_components(in_process, GATE_THREADS), size, settings)

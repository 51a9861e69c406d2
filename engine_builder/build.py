"""One build: plan -> source -> ONNX (+ parity) -> engines (GPU) -> Triton repository -> publish.

The imperative shell around the pure pieces. It checks the cache first (a hit costs a manifest read),
fails fast when the plan wants TensorRT and the machine cannot build it (before an hour of export),
and writes only into a ``.partial-*`` directory until :func:`publish.publish` renames it.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from engine_builder.components import (
    TRACE_LATENT_CAP,
    UNETS,
    ComponentName,
    Dims,
    component_spec,
    components_for,
    trace_latent_size,
)
from engine_builder.disk import no_space_left, out_of_disk_message
from engine_builder.errors import OutOfDiskError
from engine_builder.export import LoadedPipeline, export_component, load_pipeline, read_dims
from engine_builder.gating import (
    calibration_latent,
    gate_build,
    gate_settings_match,
    parity_tolerance,
    quantizes,
    regate_published,
)
from engine_builder.layout import MODEL_REPOSITORY_DIR
from engine_builder.parity import check_parity
from engine_builder.plan import BuildPlan
from engine_builder.profiles import LatentRange, latent_range, parity_shapes, within
from engine_builder.progress import LOG, Progress
from engine_builder.publish import is_complete, partial_dir, publish, read_manifest, sweep_partials, work_dir
from engine_builder.quality.report import disabled_report
from engine_builder.quantize import quantize_components
from engine_builder.repository.model_config import Engines
from engine_builder.repository.write import write_repository
from engine_builder.segmentation import check_segmenter, read_config, resolve_segmenter
from engine_builder.sources import resolve_source, resolve_unet_source
from engine_builder.trt import build_engine, engine_filename, engine_parity, require_tensorrt

VERSIONED_PACKAGES = ("torch", "diffusers", "transformers", "onnx", "onnxruntime", "polygraphy",
                      "onnx-graphsurgeon", "tensorrt", "nvidia-modelopt")


@dataclass
class BuildOptions:
    """Where things are on this machine (not part of the plan: they never change what is built)."""

    pvc_root: Path | None = None
    hf_cache: Path | None = None
    #: Where scratch files go (default: TMPDIR); the build Job points TMPDIR at an emptyDir.
    scratch: Path | None = None
    extra_manifest: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def summary(status: str, plan: BuildPlan, path: Path, started: float, *, tensorrt_version: str | None = None,
            **extra: Any) -> dict[str, Any]:
    """The one-line result (also the pod's termination message, so keep it small).

    It says what the engines are valid for (``tensorrt_version``, ``compute_capability``: the
    operator shows both in ``status.engine``) and a sentence for ``status.engine.message``.
    """
    seconds = round(time.monotonic() - started, 3)
    trt = tensorrt_version or plan.tensorrt_version
    what = f"{plan.backend}, TensorRT {trt}, sm {plan.compute_capability}" if plan.backend == "tensorrt" \
        else f"{plan.backend}, no TensorRT engines"
    message = (f"cache hit: {plan.cache_key()} was already published" if status == "cached"
               else f"built and published {plan.cache_key()} in {seconds:.1f} s ({what})")
    return {"status": status, "cache_key": plan.cache_key(), "path": str(path), "seconds": seconds,
            "backend": plan.backend, "tensorrt_version": trt, "compute_capability": plan.compute_capability,
            "message": message, **extra}


def build(plan: BuildPlan, out: Path, options: BuildOptions | None = None) -> dict[str, Any]:
    """Build and publish ``plan`` under ``out/<cache_key>``; a complete existing copy is a cache hit."""
    options = options or BuildOptions()
    started = time.monotonic()
    key = plan.cache_key()
    target = out / key
    if is_complete(target, key):
        manifest = read_manifest(target) or {}
        if gate_settings_match(manifest, plan) or not plan.quality_gate.enabled:
            # The gate's scores of the build that published it (a failed gate never publishes).
            stored: dict[str, Any] | None = (manifest.get("quality_summary") if plan.quality_gate.enabled
                                             else disabled_report())
            return summary("cached", plan, target, started, quality=stored)
        quality = _regate(plan, target, options)
        return summary("cached", plan, target, started, quality=quality,
                       message=f"cache hit: {key} was already published; its quality gate was run again under "
                               "this plan's settings (the published build was gated under others)")

    trt_version = None
    if plan.backend == "tensorrt":
        trt_version = require_tensorrt(plan)
    out.mkdir(parents=True, exist_ok=True)
    sweep_partials(out, key)
    staging = partial_dir(out, key, os.getpid())
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    scratch = _scratch_root(options)
    sweep_partials(scratch, key)
    try:
        with _scratch_work(plan, options) as work:
            manifest = _build_into(plan, staging, work, options, trt_version)
        publish_started = time.monotonic()
        publish(staging, out, key, manifest)
        LOG.info("progress stage=publish pct=100 done in %.1fs", time.monotonic() - publish_started)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if (full := no_space_left(err)) is not None:
            raise OutOfDiskError(out_of_disk_message(full, out, scratch)) from err
        raise
    return summary("built", plan, target, started, tensorrt_version=trt_version,
                   parity_max_error=manifest["parity_max_error"], quality=manifest["quality_summary"])


@contextmanager
def _scratch_work(plan: BuildPlan, options: BuildOptions) -> Iterator[Path]:
    """A fresh work directory for one build or re-gate (source copies, raw ONNX), removed afterwards.

    Scratch lives on local disk (``options.scratch``), not on the shared cache volume.
    """
    scratch = _scratch_root(options)
    work = work_dir(scratch, plan.cache_key(), os.getpid())
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _scratch_root(options: BuildOptions) -> Path:
    return options.scratch or Path(tempfile.gettempdir())


def _fetch_source(plan: BuildPlan, work: Path, options: BuildOptions) -> Path:
    token_env = plan.credentials.env if plan.credentials else None
    return resolve_source(plan.source, work, token_env=token_env, pvc_root=options.pvc_root, hf_cache=options.hf_cache)


def _regate(plan: BuildPlan, target: Path, options: BuildOptions) -> dict[str, Any]:
    """A cache hit gated under other settings: score the published build under this plan's (gating.py says why)."""
    trt_version = require_tensorrt(plan) if plan.backend == "tensorrt" else None
    with _scratch_work(plan, options) as work:
        source = _fetch_source(plan, work, options)
        return regate_published(plan, target / MODEL_REPOSITORY_DIR, source, trt_version, options.pvc_root).report


@dataclass(frozen=True)
class PhotoshootSources:
    """Local directories of the photoshoot's extra sources (inpainting UNet, segmentation model)."""

    inpaint: Path
    segmenter: Path


def resolve_photoshoot_sources(plan: BuildPlan, work: Path, options: BuildOptions) -> PhotoshootSources:
    """Fetch the inpainting UNet and the segmenter, and run the segmenter once (it fails here, not in a pod)."""
    assert plan.inpaint_source is not None and plan.segmentation_source is not None  # the plan checks this
    token_env = plan.credentials.env if plan.credentials else None
    inpaint = resolve_unet_source(plan.inpaint_source, work / "inpaint", token_env=token_env,
                                  pvc_root=options.pvc_root, hf_cache=options.hf_cache)
    segmenter = resolve_segmenter(plan.segmentation_source, work / "segmenter", token_env=token_env,
                                  pvc_root=options.pvc_root, hf_cache=options.hf_cache)
    check_segmenter(segmenter, read_config(segmenter))
    return PhotoshootSources(inpaint, segmenter)


#: Loads the torch modules of one component (or returns the calibrated pipeline that holds them all).
ComponentLoader = Callable[[ComponentName], LoadedPipeline]


def component_loader(source: Path, float_dtype: str, device: str, inpaint: Path | None,
                     calibrated: LoadedPipeline | None) -> ComponentLoader:
    """Load one component at a time, so a build holds one component's weights, never the pipeline's.

    The real UNet is 5 GB in fp16 and 10 GB in fp32; with every component loaded at once an fp32
    build needs about 14 GB before export starts (bench/engine_builder/realsize.py). A component is
    loaded again for parity rather than kept: a second read of its weights costs seconds against a
    build of many minutes. Calibration (int8/fp8) needs the whole pipeline to make its data, so a
    calibrated pipeline is kept and shared.
    """
    if calibrated is not None:
        return lambda _name: calibrated
    return lambda name: load_pipeline(source, float_dtype, device, (name,), inpaint)


def _export(load: ComponentLoader, dims: Dims, components: tuple[ComponentName, ...], lr: LatentRange, work: Path,
            float_dtype: str, progress: Progress) -> tuple[dict[ComponentName, Path], tuple[int, int]]:
    """Export every component to ``work/onnx/<name>/model.onnx``; returns the paths and the UNet trace size."""
    trace_hw = (trace_latent_size(lr.opt_hw[0], dims.unet_up_factor),
                trace_latent_size(lr.opt_hw[1], dims.unet_up_factor))
    vae_hw = (min(lr.opt_hw[0], TRACE_LATENT_CAP), min(lr.opt_hw[1], TRACE_LATENT_CAP))
    onnx_paths: dict[ComponentName, Path] = {}
    for index, name in enumerate(components):
        # Only the UNets have the up-sample trap; the VAE encoder's latent follows the image size.
        hw = trace_hw if name in UNETS else vae_hw
        progress.report("export", index / len(components), f"component={name} latent={hw}")
        onnx_paths[name] = work / "onnx" / name / "model.onnx"
        loaded = load(name)
        export_component(loaded, name, onnx_paths[name], hw, float_dtype)
        del loaded
        gc.collect()
    return onnx_paths, trace_hw


def _calibrate(plan: BuildPlan, loaded: Any, lr: Any, progress: Progress) -> None:
    """int8 (and fp8 on TensorRT): ModelOpt calibrates the plan's components so their export carries Q/DQ.

    ONNX Runtime runs int8 Q/DQ on the CPU, so the CPU path quantizes int8 too and the quality gate
    sees what an int8 engine costs; fp8's Q/DQ ops are TensorRT's own, so a CPU fp8 plan stays float.
    """
    if not quantizes(plan):
        return
    names = ",".join(plan.quantized_components)
    latent = calibration_latent(plan, lr)
    progress.report("export", 0.0, f"calibrating {names} for {plan.precision} latent={latent}")
    quantize_components(loaded, plan.precision, latent, tuple(plan.quantized_components))


def _onnx_parity(plan: BuildPlan, load: ComponentLoader, dims: Dims, onnx_paths: dict[ComponentName, Path],
                 shapes: list[tuple[int, int, int]], float_dtype: str, progress: Progress) -> dict[str, float]:
    """CPU path: each exported component against its torch module (loaded again, one at a time)."""
    parity: dict[str, float] = {}
    for index, name in enumerate(onnx_paths):
        progress.report("parity", index / len(onnx_paths), f"component={name} shapes={shapes}")
        module = load(name).modules[name]
        results = check_parity(module, component_spec(name, dims, float_dtype), onnx_paths[name], shapes,
                               parity_tolerance(plan, name, float_dtype))
        parity[name] = max(r.max_abs_error for r in results)
        del module
    return parity


def _engines(plan: BuildPlan, load: ComponentLoader, dims: Dims, onnx_paths: dict[ComponentName, Path],
             lr: LatentRange, shapes: list[tuple[int, int, int]], work: Path, trt_version: str,
             progress: Progress) -> tuple[Engines, dict[str, float]]:
    """GPU path: build each engine and compare it with torch.

    Parity compares the engines themselves (ORT's CPU kernels do not cover fp16 graphs, and the
    engine is what will serve), at the parity shapes inside the profile.
    """
    parity: dict[str, float] = {}
    files: dict[ComponentName, dict[str, str]] = {}
    for index, name in enumerate(onnx_paths):
        progress.report("engines", index / len(onnx_paths), f"component={name}")
        filename = engine_filename(name, trt_version, plan.compute_capability)
        spec = component_spec(name, dims, "float16")
        engine = build_engine(onnx_paths[name], spec, plan, lr, work / "engines" / name / filename)
        module = load(name).modules[name]
        results = engine_parity(engine, module, spec, shapes, parity_tolerance(plan, name, "float16"))
        del module
        parity[name] = max(r.max_abs_error for r in results)
        files[name] = {f"{plan.compute_capability:.1f}": filename}
    return Engines(files), parity


def _build_into(plan: BuildPlan, staging: Path, work: Path, options: BuildOptions,
                trt_version: str | None) -> dict[str, Any]:
    progress = Progress()
    gpu = plan.backend == "tensorrt"
    float_dtype = "float16" if gpu else "float32"
    components = components_for(plan.pipelines)
    photoshoot: PhotoshootSources | None = None
    with progress.stage("source"):
        source = _fetch_source(plan, work, options)
        if plan.serves("photoshoot"):
            photoshoot = resolve_photoshoot_sources(plan, work, options)
        dims = read_dims(source)

    lr = latent_range(plan)
    device = "cuda" if gpu else "cpu"
    inpaint = photoshoot.inpaint if photoshoot else None
    with progress.stage("export"):
        calibrated = None
        if quantizes(plan):
            calibrated = load_pipeline(source, float_dtype, device, components, inpaint)
            _calibrate(plan, calibrated, lr, progress)
        load = component_loader(source, float_dtype, device, inpaint, calibrated)
        onnx_paths, trace_hw = _export(load, dims, components, lr, work, float_dtype, progress)

    artefacts: dict[ComponentName, Path] = dict(onnx_paths)
    shapes = parity_shapes(lr)
    engines = None
    if not gpu:
        with progress.stage("parity"):
            parity = _onnx_parity(plan, load, dims, onnx_paths, shapes, float_dtype, progress)
    else:
        assert trt_version is not None
        shapes = within(lr, shapes)
        with progress.stage("engines"):
            engines, parity = _engines(plan, load, dims, onnx_paths, lr, shapes, work, trt_version, progress)
        artefacts.update({name: work / "engines" / name for name in components})
    del load, calibrated  # free the torch weights before the gate loads the reference pipeline
    gc.collect()

    with progress.stage("quality"):
        gate = gate_build(plan, source, dims, artefacts, work, lr, float_dtype, trt_version, options.pvc_root)
        artefacts.update(gate.replaced)  # type: ignore[arg-type]  # a later calibration attempt won

    with progress.stage("repository"):
        write_repository(staging / MODEL_REPOSITORY_DIR, plan, source, dims, float_dtype, artefacts, engines,
                         segmenter=photoshoot.segmenter if photoshoot else None)
    return {
        "plan": plan.model_dump(mode="json"),
        "backend": plan.backend,
        "onnx_dtype": float_dtype,
        "versions": {**versions(), **({"tensorrt": trt_version} if trt_version else {})},
        "timings": dict(progress.timings),
        "parity_max_error": parity,
        "parity_shapes": [list(s) for s in shapes],
        "trace_latent": list(trace_hw),
        "quality": gate.full,
        "quality_summary": gate.report,
        **options.extra_manifest,
    }

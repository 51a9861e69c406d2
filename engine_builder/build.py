"""One build: plan -> source -> ONNX (+ parity) -> engines (GPU) -> Triton repository -> publish.

The imperative shell around the pure pieces. It checks the cache first (a hit costs a manifest read),
fails fast when the plan wants TensorRT and the machine cannot build it (before an hour of export),
and writes only into a ``.partial-*`` directory until :func:`publish.publish` renames it.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from engine_builder.components import COMPONENTS, ComponentName, component_spec, export_latent_size
from engine_builder.plan import BuildPlan
from engine_builder.profiles import latent_range, parity_shapes, within
from engine_builder.progress import LOG, Progress
from engine_builder.publish import is_complete, partial_dir, publish, sweep_partials, work_dir

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


def summary(status: str, plan: BuildPlan, path: Path, started: float, **extra: Any) -> dict[str, Any]:
    """The one-line result (also the pod's termination message, so keep it small)."""
    return {"status": status, "cache_key": plan.cache_key(), "path": str(path),
            "seconds": round(time.monotonic() - started, 3), **extra}


def build(plan: BuildPlan, out: Path, options: BuildOptions | None = None) -> dict[str, Any]:
    """Build and publish ``plan`` under ``out/<cache_key>``; a complete existing copy is a cache hit."""
    options = options or BuildOptions()
    started = time.monotonic()
    key = plan.cache_key()
    target = out / key
    if is_complete(target, key):
        return summary("cached", plan, target, started)

    trt_version = None
    if plan.backend == "tensorrt":
        from engine_builder.trt import require_tensorrt

        trt_version = require_tensorrt(plan)
    out.mkdir(parents=True, exist_ok=True)
    sweep_partials(out, key)
    staging = partial_dir(out, key, os.getpid())
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    # Scratch (source copies, raw ONNX) lives on local disk, not on the shared cache volume.
    scratch = options.scratch or Path(tempfile.gettempdir())
    sweep_partials(scratch, key)
    work = work_dir(scratch, key, os.getpid())
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        try:
            manifest = _build_into(plan, staging, work, options, trt_version)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        publish_started = time.monotonic()
        publish(staging, out, key, manifest)
        LOG.info("progress stage=publish pct=100 done in %.1fs", time.monotonic() - publish_started)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary("built", plan, target, started, parity_max_error=manifest["parity_max_error"])


def _build_into(plan: BuildPlan, staging: Path, work: Path, options: BuildOptions,
                trt_version: str | None) -> dict[str, Any]:
    from engine_builder.export import export_component, load_pipeline
    from engine_builder.parity import check_parity
    from engine_builder.repository import Engines, write_repository
    from engine_builder.sources import resolve_source

    progress = Progress()
    gpu = plan.backend == "tensorrt"
    float_dtype = "float16" if gpu else "float32"
    with progress.stage("source"):
        token_env = plan.credentials.env if plan.credentials else None
        source = resolve_source(plan.source, work, token_env=token_env, pvc_root=options.pvc_root,
                                hf_cache=options.hf_cache)
        loaded = load_pipeline(source, float_dtype, "cuda" if gpu else "cpu")

    lr = latent_range(plan)
    trace_hw = (export_latent_size(lr.opt_hw[0], loaded.dims.unet_up_factor),
                export_latent_size(lr.opt_hw[1], loaded.dims.unet_up_factor))
    onnx_paths: dict[ComponentName, Path] = {}
    with progress.stage("export"):
        for index, name in enumerate(COMPONENTS):
            progress.report("export", index / len(COMPONENTS), f"component={name} latent={trace_hw}")
            onnx_paths[name] = work / "onnx" / name / "model.onnx"
            export_component(loaded, name, onnx_paths[name], trace_hw, float_dtype)

    dims = loaded.dims
    engines = None
    artefacts: dict[ComponentName, Path] = dict(onnx_paths)
    parity: dict[str, float] = {}
    shapes = parity_shapes(lr)
    if not gpu:
        with progress.stage("parity"):
            for index, name in enumerate(COMPONENTS):
                progress.report("parity", index / len(COMPONENTS), f"component={name} shapes={shapes}")
                spec = component_spec(name, dims, float_dtype)
                results = check_parity(loaded.modules[name], spec, onnx_paths[name], shapes, float_dtype)
                parity[name] = max(r.max_abs_error for r in results)
    else:
        # GPU path: parity compares the engines themselves with torch (ORT's CPU kernels do not cover
        # fp16 graphs, and the engine is what will serve), at the parity shapes inside the profile.
        assert trt_version is not None
        from engine_builder.trt import build_engine, engine_filename, engine_parity

        shapes = within(lr, shapes)
        files: dict[ComponentName, dict[str, str]] = {}
        with progress.stage("engines"):
            for index, name in enumerate(COMPONENTS):
                progress.report("engines", index / len(COMPONENTS), f"component={name}")
                filename = engine_filename(name, trt_version, plan.compute_capability)
                spec = component_spec(name, dims, float_dtype)
                engine = build_engine(onnx_paths[name], spec, plan, lr, work / "engines" / name / filename)
                results = engine_parity(engine, loaded.modules[name], spec, shapes, float_dtype)
                parity[name] = max(r.max_abs_error for r in results)
                files[name] = {f"{plan.compute_capability:.1f}": filename}
                artefacts[name] = work / "engines" / name
        engines = Engines(files)
    del loaded  # free the torch weights before writing the repository

    with progress.stage("repository"):
        write_repository(staging / "model_repository", plan, source, dims, float_dtype, artefacts, engines)
    return {
        "plan": plan.model_dump(mode="json"),
        "backend": plan.backend,
        "onnx_dtype": float_dtype,
        "versions": {**versions(), **({"tensorrt": trt_version} if trt_version else {})},
        "timings": dict(progress.timings),
        "parity_max_error": parity,
        "parity_shapes": [list(s) for s in shapes],
        "trace_latent": list(trace_hw),
        **options.extra_manifest,
    }

"""Write the whole Triton model repository for a plan, then check every config against what it serves.

Only the chosen pipelines' models are written: ``text2image`` (``text2image`` and, in-process mode,
``execution``) and ``photoshoot`` (``photoshoot``) into the same repository, sharing the component
models where the names are the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from engine_builder.components import ComponentName, Dims, component_spec, components_for
from engine_builder.errors import RepositoryError
from engine_builder.external_data import move_model
from engine_builder.layout import SPEED_TIER_MODEL, TEXT2IMAGE_MODEL
from engine_builder.onnx_graph import onnx_io
from engine_builder.plan import BuildPlan
from engine_builder.repository import execution
from engine_builder.repository.model_config import MODELS_DIR, Engines, io_mismatches, parse, render
from engine_builder.repository.photoshoot import write_photoshoot_models
from engine_builder.repository.pipeline_files import write_pipeline_files
from engine_builder.repository.text2image import component_config, sdxl_config, speed_tier_config, upscale_config


def write_repository(root: Path, plan: BuildPlan, source: Path, dims: Dims, float_dtype: str,
                     artefacts: dict[ComponentName, Path], engines: Engines | None = None,
                     segmenter: Path | None = None) -> list[Path]:
    """Write every model; ``artefacts`` are ONNX files (CPU) or engine dirs (GPU). Returns configs.

    ``segmenter`` is the resolved segmentation source (photoshoot only).
    """
    configs: list[tuple[dict[str, Any], Path | None]] = []
    for name in components_for(plan.pipelines) if execution.serves_components_as_models(plan) else ():
        spec = component_spec(name, dims, float_dtype)
        version = root / name / "1"
        version.mkdir(parents=True, exist_ok=True)
        if engines is None:
            shutil.copy2(MODELS_DIR / "onnx_model.py", version / "model.py")
            shutil.copy2(MODELS_DIR / "ort_providers.py", version / "ort_providers.py")
            move_model(artefacts[name], version / "model.onnx")
            configs.append((component_config(spec, plan), version / "model.onnx"))
        else:
            for filename in sorted(set(engines.files[name].values())):
                shutil.move(str(artefacts[name] / filename), version / filename)
            configs.append((component_config(spec, plan, engines), None))
    upscale = root / "upscale" / "1"
    upscale.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MODELS_DIR / "upscale_model.py", upscale / "model.py")
    configs.append((upscale_config(), None))
    if plan.serves("text2image"):
        sdxl = root / TEXT2IMAGE_MODEL / "1"
        write_pipeline_files(sdxl, plan, source, dims, float_dtype)
        shutil.copy2(MODELS_DIR / "sdxl_model.py", sdxl / "model.py")
        configs.append((sdxl_config(plan), None))
        tier = root / SPEED_TIER_MODEL / "1"
        tier.mkdir(parents=True, exist_ok=True)
        shutil.copy2(MODELS_DIR / "speed_tier_model.py", tier / "model.py")
        configs.append((speed_tier_config(), None))
        if not execution.serves_components_as_models(plan):
            files = engines.files if engines is not None else None
            configs.append((execution.write_in_process_model(root, sdxl, plan, artefacts, files), None))
    if plan.serves("photoshoot"):
        if segmenter is None:
            raise RepositoryError("photoshoot: no segmentation model was resolved")
        configs.extend(write_photoshoot_models(root, plan, source, dims, float_dtype, segmenter))

    written = []
    for config, onnx_path in configs:
        path = root / config["name"] / "config.pbtxt"
        path.write_text(render(config))
        parsed = parse(path.read_text())
        if onnx_path is not None and (problems := io_mismatches(parsed, onnx_io(onnx_path))):
            raise RepositoryError(f"{config['name']}: config.pbtxt does not match model.onnx: {'; '.join(problems)}")
        written.append(path)
    return written

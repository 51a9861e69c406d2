"""What a BLS pipeline model (``sdxl``, ``sdxl-photoshoot``) reads at start besides its ``model.py``.

``pipeline.py`` (the denoising loop) with the ``sampling`` package it imports (numpy noise and
schedulers: the serving image has no torch), the tokenizers and scheduler config of the source, and
``pipeline.json``: the scales and accepted sizes the loop needs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine_builder.components import Dims
from engine_builder.plan import BuildPlan
from engine_builder.profiles import latent_range

PIPELINE_FILE = Path(__file__).parent.parent / "pipeline.py"
SAMPLING_DIR = Path(__file__).parent.parent / "sampling"


def pipeline_settings(plan: BuildPlan, source: Path, dims: Dims, float_dtype: str = "float32") -> dict[str, Any]:
    """What the BLS model needs besides tokenizers and scheduler: scales and accepted sizes."""
    vae = json.loads((source / "vae" / "config.json").read_text())
    index = json.loads((source / "model_index.json").read_text())
    lr = latent_range(plan)
    largest = max(plan.resolutions, key=lambda r: r.width * r.height)
    if plan.backend == "tensorrt":  # engines only accept sizes inside their optimisation profile
        limits = {"min_height": 8 * lr.min_hw[0], "max_height": 8 * lr.max_hw[0],
                  "min_width": 8 * lr.min_hw[1], "max_width": 8 * lr.max_hw[1]}
    else:
        limits = {"min_height": 64, "max_height": 1536, "min_width": 64, "max_width": 1536}
    return {
        "vae_scaling_factor": vae.get("scaling_factor", 0.13025),
        "force_zeros_for_empty_prompt": index.get("force_zeros_for_empty_prompt", True),
        "latent_channels": dims.latent_channels,
        "float_dtype": float_dtype,
        "limits": {**limits, "default_width": largest.width, "default_height": largest.height},
    }


def copy_serving_loop(version: Path) -> None:
    """``pipeline.py`` and its ``sampling`` package, importable from ``version`` as top-level modules."""
    version.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PIPELINE_FILE, version / "pipeline.py")
    shutil.copytree(SAMPLING_DIR, version / "sampling", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))


def write_pipeline_files(version: Path, plan: BuildPlan, source: Path, dims: Dims, float_dtype: str) -> None:
    """What a BLS pipeline model reads at start: pipeline.py, sampling/, tokenizers, scheduler, pipeline.json."""
    copy_serving_loop(version)
    for folder in ("tokenizer", "tokenizer_2", "scheduler"):
        shutil.copytree(source / folder, version / folder, dirs_exist_ok=True)
    settings = pipeline_settings(plan, source, dims, float_dtype)
    (version / "pipeline.json").write_text(json.dumps(settings, indent=2, sort_keys=True))

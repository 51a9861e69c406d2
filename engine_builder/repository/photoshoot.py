"""The photoshoot pipeline's Triton models, written next to the text-to-image ones in the same repository.

``sdxl-photoshoot`` (BLS orchestrator) -> ``photoshoot_pre`` (decode, ``segmenter``, placement, masks)
-> ``clip``/``clip2``/``vae_encoder``/``unetxl_inpaint``/``vae`` (shared with text-to-image where the
names are the same) -> ``upscale`` -> ``photoshoot_post`` (paste back, blend, PNG). Each stage is its
own model so it batches, scales and shows in the metrics on its own; configs are pure dicts, checked
through ``ModelConfig`` by :func:`engine_builder.repository.write.write_repository` like every other model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine_builder.components import Dims
from engine_builder.layout import PHOTOSHOOT_MODEL
from engine_builder.onnx_graph import onnx_io
from engine_builder.plan import BuildPlan
from engine_builder.repository.model_config import MODELS_DIR, tensor_entry
from engine_builder.repository.pipeline_files import write_pipeline_files
from engine_builder.segmentation import CONFIG_FILE, MODEL_FILE, check_segmenter, read_config

#: The serving modules copied next to the photoshoot's models (photoshoot.py, inpaint.py).
HERE = Path(__file__).parent.parent
#: Inputs of the ``sdxl-photoshoot`` model: name -> (type, optional). Same names and meaning as ``sdxl``'s.
PHOTOSHOOT_INPUTS = {
    "image": ("bytes", False),
    "prompt": ("bytes", False),
    "negative_prompt": ("bytes", True),
    "seed": ("int64", True),
    "steps": ("int32", True),
    "guidance_scale": ("float32", True),
    "width": ("int32", True),
    "height": ("int32", True),
    "scheduler": ("bytes", True),
    "upscale_factor": ("int32", True),
    "product_scale": ("float32", True),
    "placement": ("bytes", True),
}
#: Decode and compose take milliseconds to tens of milliseconds; two instances keep one large photo
#: from holding up the next request's stage.
STAGE_INSTANCES = 2


def photoshoot_config(plan: BuildPlan) -> dict[str, Any]:
    """The orchestrator: like ``sdxl``, one instance per concurrently batched pipeline."""
    return {
        "name": PHOTOSHOOT_MODEL,
        "backend": "python",
        "max_batch_size": 0,
        "input": [tensor_entry(name, dtype, [1], optional) for name, (dtype, optional) in PHOTOSHOOT_INPUTS.items()],
        "output": [
            tensor_entry("image", "bytes", [1]),
            tensor_entry("mask", "bytes", [1]),
            tensor_entry("seed", "int64", [1]),
        ],
        "instance_group": [{"count": plan.max_batch_size, "kind": "KIND_CPU"}],
    }


def pre_config() -> dict[str, Any]:
    return {
        "name": "photoshoot_pre",
        "backend": "python",
        "max_batch_size": 0,
        "input": [
            tensor_entry("image", "bytes", [1]),
            tensor_entry("width", "int32", [1]),
            tensor_entry("height", "int32", [1]),
            tensor_entry("upscale_factor", "int32", [1]),
            tensor_entry("product_scale", "float32", [1]),
            tensor_entry("placement", "bytes", [1]),
        ],
        "output": [
            tensor_entry("canvas", "uint8", [-1, -1, 3]),
            tensor_entry("repaint_mask", "uint8", [-1, -1]),
            tensor_entry("product", "uint8", [-1, -1, 3]),
            tensor_entry("product_mask", "uint8", [-1, -1]),
            tensor_entry("box", "int32", [4]),
        ],
        "instance_group": [{"count": STAGE_INSTANCES, "kind": "KIND_CPU"}],
    }


def post_config() -> dict[str, Any]:
    return {
        "name": "photoshoot_post",
        "backend": "python",
        "max_batch_size": 0,
        "input": [
            tensor_entry("generated", "uint8", [-1, -1, 3]),
            tensor_entry("product", "uint8", [-1, -1, 3]),
            tensor_entry("product_mask", "uint8", [-1, -1]),
            tensor_entry("box", "int32", [4]),
        ],
        "output": [tensor_entry("image", "bytes", [1]), tensor_entry("mask", "bytes", [1])],
        "instance_group": [{"count": STAGE_INSTANCES, "kind": "KIND_CPU"}],
    }


def segmenter_config(
    plan: BuildPlan, io: dict[str, tuple[str, tuple[int | str, ...]]], inputs: list[str], outputs: list[str]
) -> dict[str, Any]:
    """The segmentation model from its ONNX I/O: batched when its first axis is dynamic, else as it is."""
    batched = all(isinstance(io[name][1][0], str) for name in (*inputs, *outputs))

    def entry(name: str) -> dict[str, Any]:
        dtype, shape = io[name]
        dims = [-1 if isinstance(d, str) or d == 0 else d for d in (shape[1:] if batched else shape)]
        return tensor_entry(name, dtype, dims)

    config: dict[str, Any] = {
        "name": "segmenter",
        "backend": "python",
        "max_batch_size": plan.max_batch_size if batched else 0,
        "input": [entry(name) for name in inputs],
        "output": [entry(name) for name in outputs],
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
    }
    if batched:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": 0}
    return config


def write_photoshoot_models(
    root: Path, plan: BuildPlan, source: Path, dims: Dims, float_dtype: str, segmenter: Path
) -> list[tuple[dict[str, Any], Path | None]]:
    """Write the photoshoot's models under ``root``; returns (config, ONNX to check it against) pairs."""
    config = read_config(segmenter)
    names = check_segmenter(segmenter, config)
    version = root / "segmenter" / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MODELS_DIR / "onnx_model.py", version / "model.py")
    shutil.copy2(MODELS_DIR / "ort_providers.py", version / "ort_providers.py")
    for name in (MODEL_FILE, f"{MODEL_FILE}.data"):
        if (segmenter / name).is_file():
            shutil.copy2(segmenter / name, version / name)
    io = onnx_io(version / MODEL_FILE)
    outputs = [name for name in io if name not in {names["input_name"]}]
    configs: list[tuple[dict[str, Any], Path | None]] = [
        (segmenter_config(plan, io, [names["input_name"]], outputs), version / MODEL_FILE),
    ]

    pre = root / "photoshoot_pre" / "1"
    pre.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MODELS_DIR / "photoshoot_pre_model.py", pre / "model.py")
    shutil.copy2(HERE / "photoshoot.py", pre / "photoshoot.py")
    (pre / CONFIG_FILE).write_text(json.dumps({**config.to_json(), **names}, indent=2, sort_keys=True))
    configs.append((pre_config(), None))

    post = root / "photoshoot_post" / "1"
    post.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MODELS_DIR / "photoshoot_post_model.py", post / "model.py")
    shutil.copy2(HERE / "photoshoot.py", post / "photoshoot.py")
    configs.append((post_config(), None))

    orchestrator = root / PHOTOSHOOT_MODEL / "1"
    write_pipeline_files(orchestrator, plan, source, dims, float_dtype)
    shutil.copy2(MODELS_DIR / "photoshoot_model.py", orchestrator / "model.py")
    for module in ("photoshoot.py", "inpaint.py"):
        shutil.copy2(HERE / module, orchestrator / module)
    configs.append((photoshoot_config(plan), None))
    return configs

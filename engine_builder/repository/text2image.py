"""The text-to-image models: one per component (BLS mode), ``upscale``, and the BLS pipeline ``sdxl``.

On the CPU path each component is a Python-backend model running ONNX Runtime with NVIDIA's tensor
names; on the GPU path the same names come from ``tensorrt_plan`` engines picked per GPU with
``cc_model_filenames``. Configs are plain dicts; ``model_config`` checks them.
"""

from __future__ import annotations

from typing import Any

from engine_builder.components import UNETS, ComponentSpec
from engine_builder.layout import SPEED_TIER_MODEL, TEXT2IMAGE_MODEL
from engine_builder.plan import BuildPlan
from engine_builder.repository.execution import mode_parameters
from engine_builder.repository.model_config import Engines, tensor_entry, triton_tensor

#: How long the UNet's batcher waits for company. A step of real SDXL takes 50-200 ms on a GPU, so
#: 2 ms costs little and lets pipelines that are a hair apart share the step.
UNET_QUEUE_DELAY_US = 2000
#: Inputs of the BLS model: name -> (type, optional).
SDXL_INPUTS = {
    "prompt": ("bytes", False), "negative_prompt": ("bytes", True), "seed": ("int64", True),
    "steps": ("int32", True), "guidance_scale": ("float32", True), "width": ("int32", True),
    "height": ("int32", True), "scheduler": ("bytes", True), "upscale_factor": ("int32", True),
}


def component_config(spec: ComponentSpec, plan: BuildPlan, engines: Engines | None = None) -> dict[str, Any]:
    """One component model; the UNets batch up to 2x the plan's batch (guidance doubles it)."""
    unet = spec.name in UNETS
    max_batch = plan.max_batch_size * (2 if unet else 1)
    config: dict[str, Any] = {
        "name": spec.name,
        "max_batch_size": max_batch,
        "input": [triton_tensor(t.axes, t.name, t.dtype) for t in spec.inputs],
        "output": [triton_tensor(t.axes, t.name, t.dtype) for t in spec.outputs],
        "dynamic_batching": {"max_queue_delay_microseconds": UNET_QUEUE_DELAY_US if unet else 0},
    }
    if engines is None:
        config["backend"] = "python"
        config["instance_group"] = [{"count": 1, "kind": "KIND_CPU"}]
    else:
        by_cc = engines.files[spec.name]
        config["platform"] = "tensorrt_plan"
        config["default_model_filename"] = next(iter(by_cc.values()))
        config["cc_model_filenames"] = by_cc
        config["instance_group"] = [{"count": 1, "kind": "KIND_GPU"}]
    return config


def sdxl_config(plan: BuildPlan) -> dict[str, Any]:
    """The BLS model: one instance per concurrently batched pipeline (Python runs one request each)."""
    return {
        "name": TEXT2IMAGE_MODEL,
        "backend": "python",
        "max_batch_size": 0,
        "input": [tensor_entry(name, dtype, [1], optional) for name, (dtype, optional) in SDXL_INPUTS.items()],
        "output": [tensor_entry("image", "uint8", [-1, -1, 3]), tensor_entry("seed", "int64", [1]),
                   tensor_entry("degraded", "bool", [1])],
        "instance_group": [{"count": plan.max_batch_size, "kind": "KIND_CPU"}],
        "parameters": mode_parameters(plan),
    }


def speed_tier_config() -> dict[str, Any]:
    """The overload speed tier's control model (triton_models/speed_tier_model.py): set or read the tier."""
    return {
        "name": SPEED_TIER_MODEL,
        "backend": "python",
        "max_batch_size": 0,
        "input": [tensor_entry("steps", "int32", [1], True), tensor_entry("ttl_s", "float32", [1], True)],
        "output": [tensor_entry("steps", "int32", [1])],
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
    }


def upscale_config() -> dict[str, Any]:
    return {
        "name": "upscale",
        "backend": "python",
        "max_batch_size": 0,
        "input": [tensor_entry("image", "uint8", [-1, -1, 3]), tensor_entry("factor", "int32", [1])],
        "output": [tensor_entry("image", "uint8", [-1, -1, 3])],
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
    }

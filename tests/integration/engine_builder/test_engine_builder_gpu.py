"""Real TensorRT builds (need a CUDA GPU and the tensorrt package; skipped with a reason elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine_builder.build import build
from engine_builder.plan import BuildPlan
from engine_builder.publish import MANIFEST
from engine_builder.trt import engine_filename

pytestmark = pytest.mark.gpu


def gpu_plan() -> BuildPlan:
    import tensorrt
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return BuildPlan.model_validate({
        "source": "builtin://tiny-sdxl", "backend": "tensorrt", "precision": "fp16",
        "resolutions": [{"width": 256, "height": 256}, {"width": 320, "height": 384}], "max_batch_size": 2,
        "tensorrt_version": tensorrt.__version__, "compute_capability": float(f"{major}.{minor}"),
    })


def test_a_tensorrt_build_of_tiny_sdxl_publishes_engines_that_match_torch(tmp_path: Path):
    plan = gpu_plan()
    summary = build(plan, tmp_path)
    assert summary["status"] == "built"
    root = Path(summary["path"])
    for name in ("clip", "clip2", "unetxl", "vae"):
        engine = root / "model_repository" / name / "1" / engine_filename(name, plan.tensorrt_version,
                                                                            plan.compute_capability)
        assert engine.stat().st_size > 0
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["onnx_dtype"] == "float16"
    assert set(manifest["parity_max_error"]) == {"clip", "clip2", "unetxl", "vae"}
    assert all(len(shape) == 3 for shape in manifest["parity_shapes"])

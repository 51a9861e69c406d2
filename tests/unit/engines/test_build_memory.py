"""What a build asks for: the largest measured stage of its plan, plus headroom, with the limit at the request."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Any, get_args

import pytest
from diffusion_operator.api.quantity import GIB, MIB
from diffusion_operator.api.resource import parse_spec
from diffusion_operator.engines.build_memory import (
    HEADROOM,
    MEASURED_PEAK_GIB,
    BuildPath,
    SizeClass,
    Stage,
    build_memory,
    quantizes,
    size_class,
)
from diffusion_operator.engines.plan import plan_for

from engine_builder.gating import quantizes as builders_rule  # imports torch lazily: fine in the operator's env
from engine_builder.plan import BuildPlan
from tests.unit.api.spec_cases import MINIMAL, spec_with

TINY = {"model": {"source": "builtin://tiny-sdxl"}}
PHOTOSHOOT_SDXL = spec_with(pipelines=["text2image", "photoshoot"], model__segmentationSource="pvc://m/seg")


def plan(spec: dict[str, Any], backend: str = "tensorrt") -> BuildPlan:
    return plan_for(parse_spec(spec), "10.13.3", backend)  # type: ignore[arg-type]


def gib(figure: str) -> int:
    """The request of a figure: + HEADROOM, rounded up to whole MiB."""
    return math.ceil(Decimal(figure) * (1 + HEADROOM) * GIB / MIB) * MIB


@pytest.mark.parametrize(("spec", "backend", "figure", "reason"), [
    (MINIMAL, "tensorrt", "8.81", "sdxl clip2 fp16 export 8.8 GiB + 15 %"),
    (MINIMAL, "onnxruntime", "14.13", "sdxl unetxl fp32 export 14.1 GiB + 15 %"),
    (TINY, "tensorrt", "2.0", "tiny clip fp16 export 2.0 GiB + 15 %"),
    (TINY, "onnxruntime", "2.0", "tiny clip fp32 export 2.0 GiB + 15 %"),
    (spec_with(engine__precision="int8"), "tensorrt", "18.0",
     "sdxl int8 calibration, all components loaded, 18.0 GiB + 15 %"),
    (spec_with(engine__precision="int8"), "onnxruntime", "24.0",
     "sdxl int8 calibration, all components loaded, 24.0 GiB + 15 %"),
    (spec_with(engine__precision="fp8", serving__gpu={"type": "nvidia-l4"}), "tensorrt", "18.0",
     "sdxl fp8 calibration, all components loaded, 18.0 GiB + 15 %"),
    # ONNX Runtime cannot run TensorRT's fp8 Q/DQ: a CPU fp8 plan stays float and does not calibrate.
    (spec_with(engine__precision="fp8", serving__gpu={"type": "nvidia-l4"}), "onnxruntime", "14.13",
     "sdxl unetxl fp32 export 14.1 GiB + 15 %"),
    ({**TINY, "engine": {"precision": "int8"}}, "tensorrt", "2.5",
     "tiny int8 calibration, all components loaded, 2.5 GiB + 15 %"),
    # The photoshoot's inpainting UNet is exported on its own: it peaks as the UNet does, under bigG...
    (PHOTOSHOOT_SDXL, "tensorrt", "8.81", "sdxl clip2 fp16 export 8.8 GiB + 15 %"),
    # ...but calibration holds it beside the rest.
    ({**PHOTOSHOOT_SDXL, "engine": {"precision": "int8"}}, "tensorrt", "23.0",
     "sdxl int8 calibration, all components loaded, 18.0 GiB + inpainting UNet 5.0 GiB + 15 %"),
    # The tiny model with a real inpainting UNet: the UNet's size decides, not the base model's.
    ({**TINY, "pipelines": ["photoshoot"], "model": {"source": "builtin://tiny-sdxl",
                                                     "inpaintSource": "pvc://models/sdxl-inpainting"}},
     "tensorrt", "7.77", "sdxl unetxl_inpaint fp16 export 7.8 GiB + 15 %"),
])
def test_the_build_asks_for_its_largest_stage_plus_headroom(spec: dict[str, Any], backend: str, figure: str,
                                                            reason: str) -> None:
    memory = build_memory(plan(spec, backend))
    assert memory.request_bytes == gib(figure)
    assert memory.reason == reason


@pytest.mark.parametrize("spec", [MINIMAL, TINY, spec_with(engine__precision="int8"), PHOTOSHOOT_SDXL])
def test_the_limit_is_the_request_and_both_are_whole_mebibytes(spec: dict[str, Any]) -> None:
    memory = build_memory(plan(spec))
    assert memory.limit_bytes == memory.request_bytes
    assert memory.request_bytes % MIB == 0


def test_the_sdxl_fp16_build_fits_a_g2_standard_8_with_the_measured_figures() -> None:
    """The seed's node type: 32 GB of RAM, about 29 GiB allocatable (the old fixed 32Gi never scheduled)."""
    assert build_memory(plan(MINIMAL)).request_bytes < 29 * GIB


@pytest.mark.parametrize(("source", "size"), [
    ("builtin://tiny-sdxl", "tiny"), ("builtin://tiny-sdxl-random", "tiny"), ("builtin://tiny-sdxl-inpaint", "tiny"),
    ("builtin://sdxl-architecture", "sdxl"), ("hf://stabilityai/sdxl@abc", "sdxl"), ("pvc://models/sdxl", "sdxl"),
    ("s3://bucket/sdxl", "sdxl"), ("gs://bucket/sdxl", "sdxl"),
])
def test_only_the_builtin_tiny_model_is_tiny(source: str, size: str) -> None:
    assert size_class(source) == size


def test_the_table_has_a_figure_for_every_size_path_and_stage() -> None:
    """Replacing the numbers must not drop a row a plan would look up."""
    expected = set(itertools.product(get_args(SizeClass), get_args(BuildPath), get_args(Stage)))
    assert set(MEASURED_PEAK_GIB) == expected
    assert all(figure > 0 for figure in MEASURED_PEAK_GIB.values())


@pytest.mark.parametrize(("precision", "backend"), list(itertools.product(("fp16", "int8", "fp8"),
                                                                          ("tensorrt", "onnxruntime"))))
def test_the_calibration_rule_is_the_builders(precision: str, backend: str) -> None:
    build = BuildPlan(source="hf://a/b", precision=precision, backend=backend)  # type: ignore[arg-type]
    assert quantizes(build) == builders_rule(build)

"""TensorRT profiles and builder configuration, built without TensorRT (the real build is gpu-marked)."""

from __future__ import annotations

import pytest

from engine_builder.components import Dims, component_spec
from engine_builder.errors import TensorRTUnavailableError
from engine_builder.plan import BuildPlan
from engine_builder.profiles import latent_range, odd_latent, parity_shapes, profile_shapes, within
from engine_builder.trt import (
    build_profile,
    builder_settings,
    create_config,
    engine_filename,
    missing_requirements,
    quantization_mode,
    require_tensorrt,
)
from tests.builder_extra import builder_module

PLAN = BuildPlan(
    source="hf://stabilityai/stable-diffusion-xl-base-1.0@main",
    resolutions=({"width": 1024, "height": 1024}, {"width": 768, "height": 1344}),  # type: ignore[arg-type]
    max_batch_size=4, tensorrt_version="10.8", compute_capability=8.9,
)


def test_the_latent_range_spans_every_planned_resolution_per_dimension():
    lr = latent_range(PLAN)
    assert (lr.min_batch, lr.opt_batch, lr.max_batch) == (1, 1, 4)
    assert lr.min_hw == (128, 96)
    assert lr.max_hw == (168, 128)
    assert lr.opt_hw == (128, 128)  # the largest planned area: 1024x1024 beats 768x1344


def test_the_unet_profile_doubles_the_batch_for_guidance_and_keeps_fixed_dims():
    shapes = profile_shapes(component_spec("unetxl", Dims()), latent_range(PLAN))
    assert shapes["sample"] == ((2, 4, 128, 96), (2, 4, 128, 128), (8, 4, 168, 128))
    assert shapes["encoder_hidden_states"] == ((2, 77, 2048), (2, 77, 2048), (8, 77, 2048))
    assert shapes["timestep"] == ((2,), (2,), (8,))
    assert shapes["text_embeds"][2] == (8, 1280)
    assert shapes["time_ids"][2] == (8, 6)


POLYGRAPHY = "profiles and builder configs are polygraphy objects"


def test_the_polygraphy_profile_holds_min_opt_max_for_every_input():
    builder_module("polygraphy", POLYGRAPHY)
    lr = latent_range(PLAN)
    profile = build_profile(component_spec("vae", Dims()), lr)
    assert list(profile.keys()) == ["latent"]
    assert profile["latent"].min == (1, 4, 128, 96)
    assert profile["latent"].opt == (1, 4, 128, 128)
    assert profile["latent"].max == (4, 4, 168, 128)


def test_the_builder_config_is_strongly_typed_with_no_precision_flags():
    builder_module("polygraphy", POLYGRAPHY)
    settings = builder_settings(PLAN)
    assert settings.strongly_typed and settings.native_instancenorm
    assert settings.quantization is None
    config = create_config(settings, build_profile(component_spec("clip", Dims()), latent_range(PLAN)))
    assert not config.fp16 and not config.int8 and not config.fp8  # types come from the ONNX
    assert config.builder_optimization_level == 3
    assert config.memory_pool_limits == {"WORKSPACE": 8 << 30}
    assert config.profiles[0]["input_ids"].max == (4, 77)


@pytest.mark.parametrize(("precision", "cc", "mode"), [("fp16", 8.6, None), ("int8", 8.6, "int8"), ("fp8", 8.9, "fp8")])
def test_quantization_is_asked_for_only_by_int8_and_fp8_plans(precision, cc, mode):
    plan = PLAN.model_copy(update={"precision": precision, "compute_capability": cc})
    assert quantization_mode(plan) == mode


def test_engine_files_are_named_by_tensorrt_version_and_compute_capability():
    assert engine_filename("unetxl", "10.8.0", 8.9) == "unetxl.trt10.8.0.sm89.plan"
    assert engine_filename("vae", "10.8.0", 9.0) == "vae.trt10.8.0.sm90.plan"


@pytest.mark.parametrize(
    ("installed", "cc", "expected"),
    [
        (None, None, ["tensorrt Python package is not installed", "no CUDA device"]),
        ("10.8.0.43", 8.6, ["compute capability 8.9 (nvidia-l4) but this GPU has 8.6"]),
        ("10.7.0", 8.9, ["wants TensorRT 10.8 but 10.7.0 is installed"]),
        ("10.8.0.43", 8.9, []),
    ],
)
def test_missing_requirements_name_each_problem(installed, cc, expected):
    problems = missing_requirements(PLAN, installed, cc)
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_require_tensorrt_raises_a_clear_error_here():
    with pytest.raises(TensorRTUnavailableError, match="cannot build TensorRT engines"):
        require_tensorrt(PLAN)


def test_parity_shapes_include_an_odd_latent_and_stay_small():
    shapes = parity_shapes(latent_range(PLAN))
    assert (1, 128, 96) in shapes
    assert any(h % 2 and w % 2 for _, h, w in shapes)
    assert max(b for b, _, _ in shapes) <= 2


def test_a_single_resolution_plan_checks_an_odd_latent_just_below_its_profile_and_engines_skip_it():
    lr = latent_range(BuildPlan(source="builtin://tiny-sdxl", resolutions=({"width": 1024, "height": 1024},)))  # type: ignore[arg-type]
    shapes = parity_shapes(lr)
    assert shapes == [(1, 128, 128), (1, 127, 127), (2, 128, 128)]
    assert within(lr, shapes) == [(1, 128, 128), (2, 128, 128)]
    assert odd_latent(96, 128) == 97 and odd_latent(97, 97) == 97 and odd_latent(128, 128) == 127

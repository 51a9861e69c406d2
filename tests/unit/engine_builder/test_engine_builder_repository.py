"""Triton configs: rendered through ModelConfig, parsed back, and matched against ONNX I/O."""

from __future__ import annotations

import pytest

from engine_builder.components import Dims, component_spec
from engine_builder.errors import RepositoryError
from engine_builder.plan import BuildPlan
from engine_builder.repository import (
    Engines,
    component_config,
    io_mismatches,
    parse,
    render,
    sdxl_config,
    upscale_config,
)

PLAN = BuildPlan(source="builtin://tiny-sdxl", backend="onnxruntime", max_batch_size=4)
UNET_ONNX_IO = {
    "sample": ("float32", ("2B", 4, "H", "W")),
    "timestep": ("float32", ("2B",)),
    "encoder_hidden_states": ("float32", ("2B", 77, 2048)),
    "text_embeds": ("float32", ("2B", 1280)),
    "time_ids": ("float32", ("2B", 6)),
    "latent": ("float32", ("2B", 4, "H", "W")),
}


def unet_config(engines: Engines | None = None):
    return parse(render(component_config(component_spec("unetxl", Dims()), PLAN, engines)))


def test_the_unet_batches_dynamically_up_to_twice_the_plan_batch():
    config = unet_config()
    assert config.max_batch_size == 8
    assert config.HasField("dynamic_batching")
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    assert config.backend == "python"


def test_the_per_sample_timestep_is_declared_as_1_and_reshaped_to_a_scalar():
    timestep = next(t for t in unet_config().input if t.name == "timestep")
    assert list(timestep.dims) == [1]
    assert timestep.HasField("reshape") and list(timestep.reshape.shape) == []


def test_a_config_that_matches_its_onnx_model_has_no_mismatches():
    assert io_mismatches(unet_config(), UNET_ONNX_IO) == []


def test_every_kind_of_mismatch_is_reported():
    io = dict(UNET_ONNX_IO)
    io["sample"] = ("float16", ("2B", 4, "H", "W"))
    io["time_ids"] = ("float32", ("2B", 5))
    del io["text_embeds"]
    io["extra"] = ("float32", ("2B",))
    problems = io_mismatches(unet_config(), io)
    assert any(p.startswith("sample: config TYPE_FP32 but ONNX float16") for p in problems)
    assert any(p.startswith("time_ids: config dims [6]") for p in problems)
    assert any(p.startswith("text_embeds: not an input/output") for p in problems)
    assert any(p.startswith("extra: in the ONNX model but not in the config") for p in problems)


def test_gpu_configs_pick_engines_by_compute_capability():
    engines = Engines({"unetxl": {"8.9": "unetxl.trt10.8.sm89.plan"}})  # type: ignore[dict-item]
    config = unet_config(engines)
    assert config.platform == "tensorrt_plan"
    assert dict(config.cc_model_filenames) == {"8.9": "unetxl.trt10.8.sm89.plan"}
    assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU


def test_the_bls_model_takes_an_optional_everything_but_the_prompt_and_returns_an_image():
    config = parse(render(sdxl_config(PLAN)))
    optional = {t.name: t.optional for t in config.input}
    assert optional.pop("prompt") is False
    assert set(optional) == {"negative_prompt", "seed", "steps", "guidance_scale", "width", "height",
                             "scheduler", "upscale_factor"}
    assert all(optional.values())
    image = next(t for t in config.output if t.name == "image")
    assert list(image.dims) == [-1, -1, 3]
    assert config.instance_group[0].count == PLAN.max_batch_size  # concurrent pipelines to batch


def test_the_upscale_model_is_a_separate_python_model():
    config = parse(render(upscale_config()))
    assert config.name == "upscale" and config.backend == "python"


def test_an_unknown_field_fails_at_render_time_not_in_a_serving_pod():
    with pytest.raises(RepositoryError, match="invalid model config"):
        render({"name": "x", "max_batch_sise": 1})


def test_text_that_is_not_a_model_config_fails_to_parse():
    with pytest.raises(RepositoryError, match="does not parse"):
        parse('name: "x" backend: python')

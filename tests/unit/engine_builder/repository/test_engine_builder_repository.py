"""Triton configs: rendered through ModelConfig, parsed back, and matched against ONNX I/O."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2

from engine_builder import tiny
from engine_builder.components import COMPONENTS, Dims, component_spec
from engine_builder.errors import RepositoryError
from engine_builder.plan import BuildPlan
from engine_builder.repository.model_config import Engines, io_mismatches, parse, render
from engine_builder.repository.pipeline_files import PIPELINE_FILE, SAMPLING_DIR
from engine_builder.repository.text2image import component_config, sdxl_config, speed_tier_config, upscale_config
from engine_builder.repository.write import write_repository
from engine_builder.trt import engine_filename

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


def fake_source(root: Path) -> Path:
    """What write_repository reads from a source: tokenizers, scheduler, VAE config, model index."""
    for name in ("tokenizer", "tokenizer_2"):
        tiny.write_tokenizer(root / name)
    (root / "scheduler").mkdir()
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(tiny.scheduler_config()))
    (root / "vae").mkdir()
    (root / "vae" / "config.json").write_text(json.dumps({"scaling_factor": 0.13025}))
    (root / "model_index.json").write_text(json.dumps({"force_zeros_for_empty_prompt": True}))
    return root


def test_the_gpu_repository_holds_one_engine_per_component_and_fp16_pipeline_settings(tmp_path: Path):
    plan = BuildPlan(source="builtin://tiny-sdxl", max_batch_size=2, tensorrt_version="10.8",
                     resolutions=({"width": 768, "height": 1024}, {"width": 1024, "height": 1024}))  # type: ignore[arg-type]
    files, artefacts = {}, {}
    for name in COMPONENTS:
        filename = engine_filename(name, "10.8", 8.9)
        (tmp_path / "engines" / name).mkdir(parents=True)
        (tmp_path / "engines" / name / filename).write_bytes(b"engine")
        files[name] = {"8.9": filename}
        artefacts[name] = tmp_path / "engines" / name
    root = tmp_path / "repo"
    written = write_repository(root, plan, fake_source(tmp_path / "src"), Dims(), "float16", artefacts,  # type: ignore[arg-type]
                               Engines(files))  # type: ignore[arg-type]
    assert sorted(p.parent.name for p in written) == ["clip", "clip2", "sdxl", "speed_tier", "unetxl", "upscale", "vae"]
    assert sorted(p.name for p in (root / "clip" / "1").iterdir()) == ["clip.trt10.8.sm89.plan"]
    assert sorted(p.name for p in (root / "clip2" / "1").iterdir()) == ["clip2.trt10.8.sm89.plan"]
    unet = parse((root / "unetxl" / "config.pbtxt").read_text())
    assert unet.platform == "tensorrt_plan" and unet.default_model_filename == "unetxl.trt10.8.sm89.plan"

    assert {t.name: t.data_type for t in unet.input}["sample"] == model_config_pb2.TYPE_FP16
    settings = json.loads((root / "sdxl" / "1" / "pipeline.json").read_text())
    assert settings["float_dtype"] == "float16"
    assert settings["limits"] == {"min_width": 768, "max_width": 1024, "min_height": 1024, "max_height": 1024,
                                  "default_width": 1024, "default_height": 1024}
    assert (root / "sdxl" / "1" / "pipeline.py").read_text() == PIPELINE_FILE.read_text()
    copied = root / "sdxl" / "1" / "sampling"  # pipeline.py's numpy noise and schedulers travel with it
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in SAMPLING_DIR.glob("*.py"))
    assert (root / "sdxl" / "1" / "tokenizer" / "vocab.json").exists()


def test_the_bls_model_says_whether_the_speed_tier_degraded_the_image():
    config = parse(render(sdxl_config(PLAN)))
    degraded = next(t for t in config.output if t.name == "degraded")
    assert list(degraded.dims) == [1]


def test_the_speed_tier_control_model_sets_and_reads_the_tier():
    config = parse(render(speed_tier_config()))
    assert config.name == "speed_tier" and config.backend == "python"
    assert {t.name: t.optional for t in config.input} == {"steps": True, "ttl_s": True}
    assert [t.name for t in config.output] == ["steps"]

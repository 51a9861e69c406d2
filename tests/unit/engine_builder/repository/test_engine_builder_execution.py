"""Execution modes: how the plan selects BLS or in-process, and what each writes into the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine_builder import tiny
from engine_builder.components import COMPONENTS, Dims
from engine_builder.plan import BuildPlan
from engine_builder.repository.execution import EXECUTION_MODE_PARAMETER, IN_PROCESS_MODEL, component_table
from engine_builder.repository.model_config import Engines, parse, render
from engine_builder.repository.text2image import sdxl_config
from engine_builder.repository.write import write_repository
from engine_builder.triton_models.local_components import engine_for, load_components
from engine_builder.trt import engine_filename

BASE = {"source": "builtin://tiny-sdxl", "backend": "onnxruntime", "max_batch_size": 3}


def plan(**fields: object) -> BuildPlan:
    return BuildPlan.model_validate({**BASE, **fields})


def fake_source(root: Path) -> Path:
    for name in ("tokenizer", "tokenizer_2"):
        tiny.write_tokenizer(root / name)
    (root / "scheduler").mkdir()
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(tiny.scheduler_config()))
    (root / "vae").mkdir()
    (root / "vae" / "config.json").write_text(json.dumps({"scaling_factor": 0.13025}))
    (root / "model_index.json").write_text(json.dumps({"force_zeros_for_empty_prompt": True}))
    return root


def onnx_artefacts(tmp_path: Path) -> dict:
    artefacts = {}
    for name in COMPONENTS:
        artefacts[name] = tmp_path / "onnx" / name / "model.onnx"
        artefacts[name].parent.mkdir(parents=True)
        artefacts[name].write_bytes(name.encode())
    return artefacts


def test_bls_is_the_default_and_keeps_the_cache_key_of_plans_written_before_the_mode_existed():
    assert plan().execution_mode == "bls"
    assert plan(execution_mode="bls").cache_key() == plan().cache_key()


def test_in_process_publishes_another_repository_so_it_has_its_own_cache_key():
    assert plan(execution_mode="in_process").cache_key() != plan().cache_key()


def test_an_unknown_mode_is_rejected_naming_the_field():
    with pytest.raises(ValidationError, match="execution_mode"):
        plan(execution_mode="threads")


@pytest.mark.parametrize("mode", ["bls", "in_process"])
def test_the_sdxl_config_names_its_mode_in_a_parameter(mode: str):
    config = parse(render(sdxl_config(plan(execution_mode=mode))))
    assert config.parameters[EXECUTION_MODE_PARAMETER].string_value == mode
    assert config.max_batch_size == 0, "the wire API stays unbatched ([1] inputs, [H, W, 3] image) in both modes"


def test_in_process_writes_no_component_models_and_one_batched_pipeline_model(tmp_path: Path):
    root = tmp_path / "repo"
    written = write_repository(
        root,
        plan(execution_mode="in_process"),
        fake_source(tmp_path / "src"),
        Dims(),
        "float32",
        onnx_artefacts(tmp_path),
    )
    assert sorted(p.parent.name for p in written) == ["sdxl", IN_PROCESS_MODEL, "speed_tier", "upscale"]
    assert sorted(p.name for p in root.iterdir()) == ["sdxl", IN_PROCESS_MODEL, "speed_tier", "upscale"]
    config = parse((root / IN_PROCESS_MODEL / "config.pbtxt").read_text())
    assert config.max_batch_size == 3 and config.HasField("dynamic_batching")
    assert [(g.count, g.kind) for g in config.instance_group] == [(1, config.instance_group[0].KIND_CPU)]
    assert {t.name for t in config.input if t.optional} == {"negative_prompt"}, "sdxl forwards resolved requests"
    version = root / IN_PROCESS_MODEL / "1"
    table = json.loads((version / "components.json").read_text())
    assert table == component_table(None)
    assert all((version / entry["onnx"]).read_bytes() == name.encode() for name, entry in table.items())
    assert {"model.py", "pipeline.py", "sampling", "local_components.py", "pipeline.json", "tokenizer"} <= {
        p.name for p in version.iterdir()
    }


def test_in_process_on_gpu_moves_the_engines_and_runs_on_a_gpu_instance(tmp_path: Path):
    gpu_plan = plan(
        backend="tensorrt",
        tensorrt_version="10.8",
        execution_mode="in_process",
        resolutions=[{"width": 1024, "height": 1024}],
    )
    files, artefacts = {}, {}
    for name in COMPONENTS:
        filename = engine_filename(name, "10.8", 8.9)
        (tmp_path / "engines" / name).mkdir(parents=True)
        (tmp_path / "engines" / name / filename).write_bytes(b"engine")
        files[name] = {"8.9": filename}
        artefacts[name] = tmp_path / "engines" / name
    root = tmp_path / "repo"
    write_repository(
        root,
        gpu_plan,
        fake_source(tmp_path / "src"),
        Dims(),
        "float16",
        artefacts,  # type: ignore[arg-type]
        Engines(files),
    )  # type: ignore[arg-type]
    config = parse((root / IN_PROCESS_MODEL / "config.pbtxt").read_text())
    assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    table = json.loads((root / IN_PROCESS_MODEL / "1" / "components.json").read_text())
    assert table["unetxl"] == {"engines": {"8.9": "components/unetxl/unetxl.trt10.8.sm89.plan"}}
    assert (root / IN_PROCESS_MODEL / "1" / table["unetxl"]["engines"]["8.9"]).read_bytes() == b"engine"


def test_the_in_process_model_picks_the_engine_of_its_gpu_like_cc_model_filenames():
    engines = {"8.9": "components/vae/vae.sm89.plan", "9.0": "components/vae/vae.sm90.plan"}
    assert engine_for(engines, "9.0") == "components/vae/vae.sm90.plan"
    with pytest.raises(RuntimeError, match=r"compute capability 8\.6.*\['8\.9', '9\.0'\]"):
        engine_for(engines, "8.6")


def test_engines_without_a_gpu_instance_fail_with_a_message_not_a_cuda_error(tmp_path: Path):
    (tmp_path / "components.json").write_text(json.dumps({"vae": {"engines": {"8.9": "vae.plan"}}}))
    with pytest.raises(RuntimeError, match="KIND_GPU"):
        load_components(tmp_path, device=None)

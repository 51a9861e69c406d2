"""The Triton model repository: one model per component, ``upscale``, and the BLS pipeline ``sdxl``.

The photoshoot pipeline's models (``sdxl-photoshoot`` and its stages) are written by
``photoshoot_repository`` into the same repository; only the chosen pipelines' models are written.

Configs are built as plain dicts by pure functions, turned into ``ModelConfig`` protobufs (so an
unknown field or a wrong type fails here, not in a serving pod), rendered with ``text_format`` and
parsed back from disk for validation. On the CPU path each component is a Python-backend model
running ONNX Runtime with NVIDIA's tensor names; on the GPU path the same names come from
``tensorrt_plan`` engines picked per GPU with ``cc_model_filenames``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_builder.components import UNETS, ComponentName, ComponentSpec, Dims, component_spec, components_for
from engine_builder.errors import RepositoryError
from engine_builder.plan import ENTRY_MODELS, BuildPlan
from engine_builder.profiles import latent_range

TRITON_TYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "uint8": "TYPE_UINT8", "bytes": "TYPE_STRING",
}
#: How long the UNet's batcher waits for company. A step of real SDXL takes 50-200 ms on a GPU, so
#: 2 ms costs little and lets pipelines that are a hair apart share the step.
UNET_QUEUE_DELAY_US = 2000
MODELS_DIR = Path(__file__).parent / "triton_models"
PIPELINE_FILE = Path(__file__).parent / "pipeline.py"
#: Inputs of the BLS model: name -> (type, optional).
SDXL_INPUTS = {
    "prompt": ("bytes", False), "negative_prompt": ("bytes", True), "seed": ("int64", True),
    "steps": ("int32", True), "guidance_scale": ("float32", True), "width": ("int32", True),
    "height": ("int32", True), "scheduler": ("bytes", True), "upscale_factor": ("int32", True),
}


@dataclass(frozen=True)
class Engines:
    """GPU path: engine file per component, keyed by compute capability (``"8.9"``)."""

    files: dict[ComponentName, dict[str, str]]


def tensor_entry(name: str, dtype: str, dims: list[int], optional: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "data_type": TRITON_TYPES[dtype], "dims": dims}
    if optional:
        entry["optional"] = True
    return entry


def triton_tensor(axes: tuple[str | int, ...], name: str, dtype: str) -> dict[str, Any]:
    """Drop the batch axis; a 1-D (batch-only) tensor becomes dims [1] reshaped to []."""
    dims = [-1 if isinstance(axis, str) else axis for axis in axes[1:]]
    if not dims:
        return {**tensor_entry(name, dtype, [1]), "reshape": {"shape": []}}
    return tensor_entry(name, dtype, dims)


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
    from engine_builder.execution import mode_parameters

    return {
        "name": ENTRY_MODELS["text2image"],
        "backend": "python",
        "max_batch_size": 0,
        "input": [tensor_entry(name, dtype, [1], optional) for name, (dtype, optional) in SDXL_INPUTS.items()],
        "output": [tensor_entry("image", "uint8", [-1, -1, 3]), tensor_entry("seed", "int64", [1])],
        "instance_group": [{"count": plan.max_batch_size, "kind": "KIND_CPU"}],
        "parameters": mode_parameters(plan),
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


def render(config: dict[str, Any]) -> str:
    """dict -> ``ModelConfig`` -> pbtxt; raises :class:`RepositoryError` on unknown fields/values."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    try:
        message = json_format.ParseDict(config, model_config_pb2.ModelConfig())
    except json_format.ParseError as err:
        raise RepositoryError(f"{config.get('name')}: invalid model config: {err}") from err
    return str(text_format.MessageToString(message))


def parse(text: str) -> Any:
    """Parse pbtxt as Triton does (``ModelConfig`` via protobuf text format)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as err:
        raise RepositoryError(f"config.pbtxt does not parse as ModelConfig: {err}") from err


def onnx_io(path: Path) -> dict[str, tuple[str, tuple[int | str, ...]]]:
    """name -> (numpy dtype name, shape with symbolic dims as str) for every graph input and output."""
    import onnx
    from onnx import helper

    graph = onnx.load(str(path), load_external_data=False).graph
    io: dict[str, tuple[str, tuple[int | str, ...]]] = {}
    for value in (*graph.input, *graph.output):
        tensor = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        io[value.name] = (dtype, tuple(d.dim_param or d.dim_value for d in tensor.shape.dim))
    return io


def io_mismatches(config: Any, io: dict[str, tuple[str, tuple[int | str, ...]]]) -> list[str]:
    """Every way a parsed config disagrees with the ONNX graph's names, dtypes and shapes."""
    from tritonclient.grpc import model_config_pb2

    problems = []
    declared = [*config.input, *config.output]
    for tensor in declared:
        if tensor.name not in io:
            problems.append(f"{tensor.name}: not an input/output of the ONNX model")
            continue
        dtype, shape = io[tensor.name]
        type_name = model_config_pb2.DataType.Name(tensor.data_type)
        if TRITON_TYPES.get(dtype) != type_name:
            problems.append(f"{tensor.name}: config {type_name} but ONNX {dtype}")
        dims = list(tensor.reshape.shape) if tensor.HasField("reshape") else list(tensor.dims)
        expected = [-1 if isinstance(d, str) else d for d in shape[1:]] if config.max_batch_size else \
            [-1 if isinstance(d, str) else d for d in shape]
        if dims != expected:
            problems.append(f"{tensor.name}: config dims {dims} but ONNX {list(shape)}")
    missing = set(io) - {t.name for t in declared}
    problems.extend(f"{name}: in the ONNX model but not in the config" for name in sorted(missing))
    return problems


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


def write_pipeline_files(version: Path, plan: BuildPlan, source: Path, dims: Dims, float_dtype: str) -> None:
    """What a BLS pipeline model reads at start: pipeline.py, tokenizers, scheduler, pipeline.json."""
    version.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PIPELINE_FILE, version / "pipeline.py")
    for folder in ("tokenizer", "tokenizer_2", "scheduler"):
        shutil.copytree(source / folder, version / folder, dirs_exist_ok=True)
    settings = pipeline_settings(plan, source, dims, float_dtype)
    (version / "pipeline.json").write_text(json.dumps(settings, indent=2, sort_keys=True))


def write_repository(root: Path, plan: BuildPlan, source: Path, dims: Dims, float_dtype: str,
                     artefacts: dict[ComponentName, Path], engines: Engines | None = None,
                     segmenter: Path | None = None) -> list[Path]:
    """Write every model; ``artefacts`` are ONNX files (CPU) or engine dirs (GPU). Returns configs.

    ``segmenter`` is the resolved segmentation source (photoshoot only).
    """
    from engine_builder import execution

    configs: list[tuple[dict[str, Any], Path | None]] = []
    for name in components_for(plan.pipelines) if execution.serves_components_as_models(plan) else ():
        spec = component_spec(name, dims, float_dtype)
        version = root / name / "1"
        version.mkdir(parents=True, exist_ok=True)
        if engines is None:
            shutil.copy2(MODELS_DIR / "onnx_model.py", version / "model.py")
            shutil.move(str(artefacts[name]), version / "model.onnx")
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
        sdxl = root / ENTRY_MODELS["text2image"] / "1"
        write_pipeline_files(sdxl, plan, source, dims, float_dtype)
        shutil.copy2(MODELS_DIR / "sdxl_model.py", sdxl / "model.py")
        configs.append((sdxl_config(plan), None))
        if not execution.serves_components_as_models(plan):
            files = engines.files if engines is not None else None
            configs.append((execution.write_in_process_model(root, sdxl, plan, artefacts, files), None))
    if plan.serves("photoshoot"):
        from engine_builder.photoshoot_repository import write_photoshoot_models

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

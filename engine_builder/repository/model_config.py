"""Model configs as checked data: tensor entries, ``ModelConfig`` rendering and parsing, ONNX I/O checks.

The bottom of the repository writer: every model's config is a plain dict built by a pure function
elsewhere in this package, turned into a ``ModelConfig`` protobuf here (so an unknown field or a
wrong type fails at build time, not in a serving pod), rendered with ``text_format`` and parsed back
from disk for validation against the ONNX graph it serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from engine_builder.components import ComponentName
from engine_builder.errors import RepositoryError

TRITON_TYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "uint8": "TYPE_UINT8", "bytes": "TYPE_STRING", "bool": "TYPE_BOOL",
}
#: The Python-backend models copied into the repository (``model.py`` of each model).
MODELS_DIR = Path(__file__).parent.parent / "triton_models"


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


def render(config: dict[str, Any]) -> str:
    """dict -> ``ModelConfig`` -> pbtxt; raises :class:`RepositoryError` on unknown fields/values."""
    try:
        message = json_format.ParseDict(config, model_config_pb2.ModelConfig())
    except json_format.ParseError as err:
        raise RepositoryError(f"{config.get('name')}: invalid model config: {err}") from err
    return str(text_format.MessageToString(message))


def parse(text: str) -> Any:
    """Parse pbtxt as Triton does (``ModelConfig`` via protobuf text format)."""
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as err:
        raise RepositoryError(f"config.pbtxt does not parse as ModelConfig: {err}") from err


def io_mismatches(config: Any, io: dict[str, tuple[str, tuple[int | str, ...]]]) -> list[str]:
    """Every way a parsed config disagrees with the ONNX graph's names, dtypes and shapes."""
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

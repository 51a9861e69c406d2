"""Weights over protobuf's limit: optimised without being loaded, then streamed into one aligned file.

A small graph saved the way torch writes a model over 2 GB (one file per weight) stands in for
the real UNet: the code path is the same, only the sizes differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine_builder.external_data import ALIGNMENT, consolidate, has_external_data, move_model, optimize_structure
from tests.builder_extra import builder_module

onnx = builder_module("onnx", "the external data helpers read and write ONNX graphs")
ort = builder_module("onnxruntime", "the consolidated model is run to prove its weights are intact")
helper, numpy_helper = onnx.helper, onnx.numpy_helper


def torch_style_export(directory: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """y = relu(x @ w1 + b) @ w2, with an unused weight left behind, saved one file per tensor."""
    rng = np.random.default_rng(0)
    weights = {"w1": rng.standard_normal((8, 16)).astype(np.float32), "b": rng.standard_normal(16).astype(np.float32),
               "w2": rng.standard_normal((16, 4)).astype(np.float32),
               "unused": rng.standard_normal((3, 3)).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9)  # what torch writes
    directory.mkdir(parents=True)
    path = directory / "raw.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    return path, weights


def run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["y"], {"x": x})[0])


def test_a_large_model_is_optimised_and_consolidated_without_loading_its_weights(tmp_path: Path):
    raw, weights = torch_style_export(tmp_path / "raw")
    x = np.ones((2, 8), dtype=np.float32)
    expected = run(raw, x)
    model = onnx.load(str(raw), load_external_data=False)
    assert has_external_data(model)

    destination = tmp_path / "out" / "model.onnx"
    data = consolidate(optimize_structure(model), raw.parent, destination)

    assert data == destination.parent / "model.onnx.data"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["model.onnx", "model.onnx.data"]
    saved = onnx.load(str(destination), load_external_data=False)
    entries = [{e.key: e.value for e in t.external_data} for t in saved.graph.initializer]
    assert {e["location"] for e in entries} == {"model.onnx.data"}
    assert all(int(e["offset"]) % ALIGNMENT == 0 for e in entries)
    assert sorted(t.name for t in saved.graph.initializer) == ["b", "w1", "w2"]  # cleanup dropped "unused"
    assert not [p for p in raw.parent.iterdir() if p.name in {"w1", "b", "w2"}]  # copied files are deleted
    np.testing.assert_array_equal(run(destination, x), expected)
    loaded = {t.name: numpy_helper.to_array(t, base_dir=str(destination.parent))
              for t in onnx.load(str(destination), load_external_data=False).graph.initializer}
    for name in ("w1", "b", "w2"):
        np.testing.assert_array_equal(loaded[name], weights[name])


def test_a_model_moves_with_its_weights(tmp_path: Path):
    raw, _ = torch_style_export(tmp_path / "raw")
    built = tmp_path / "built" / "model.onnx"
    consolidate(onnx.load(str(raw), load_external_data=False), raw.parent, built)
    served = tmp_path / "repository" / "unetxl" / "1" / "model.onnx"
    served.parent.mkdir(parents=True)
    move_model(built, served)
    assert sorted(p.name for p in served.parent.iterdir()) == ["model.onnx", "model.onnx.data"]
    assert run(served, np.ones((1, 8), dtype=np.float32)).shape == (1, 4)

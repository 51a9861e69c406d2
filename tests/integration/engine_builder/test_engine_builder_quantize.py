"""int8/fp8 on the tiny model, on CPU, up to the TensorRT call: ModelOpt calibration, Q/DQ export, builder config.

No engine is built (no GPU with TensorRT here) and none is faked: the tests check what our code hands
TensorRT, the quantized ONNX graph and the builder configuration.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine_builder.components import component_spec, sample_inputs
from engine_builder.export import export_component, load_pipeline, torch_run
from engine_builder.parity import ort_runner
from engine_builder.plan import BuildPlan
from engine_builder.quantize import kept_in_float, quantize_unet
from engine_builder.tiny import materialize
from engine_builder.trt import builder_settings, create_config, missing_requirements

LATENT = (7, 7)  # the tiny UNet's trace size: off its up-factor, like every export


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize(tmp_path_factory.mktemp("tiny-quantize"))


def quantized_export(source: Path, precision: str, destination: Path) -> tuple[Any, int]:
    loaded = load_pipeline(source)
    count = quantize_unet(loaded, precision, LATENT, prompts=("a cat", "a lighthouse at night"), steps=3)
    export_component(loaded, "unetxl", destination, LATENT)
    return loaded, count


@pytest.fixture(scope="module")
def int8_unet(tiny_source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, int, Path]:
    path = tmp_path_factory.mktemp("int8") / "unet.onnx"
    loaded, count = quantized_export(tiny_source, "int8", path)
    return loaded, count, path


def op_counts(path: Path) -> Counter[str]:
    import onnx

    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_int8_calibration_puts_quantize_dequantize_pairs_into_the_unet_onnx(int8_unet):
    _, quantizers, path = int8_unet
    ops = op_counts(path)
    print(f"int8: {quantizers} quantizers, {ops['QuantizeLinear']} Q, {ops['DequantizeLinear']} DQ")
    assert quantizers > 0
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] >= ops["QuantizeLinear"]


def test_the_unet_keeps_the_layers_modelopts_diffusers_example_keeps_in_float(int8_unet):
    """Embeddings, first/last convolutions and shortcuts stay float; every other layer is quantized."""
    from modelopt.torch.quantization.nn import TensorQuantizer

    loaded, _, _ = int8_unet
    quantizers = {name: module for name, module in loaded.modules["unetxl"].named_modules()
                  if isinstance(module, TensorQuantizer)}
    kept = {name for name in quantizers if kept_in_float(name)}
    layers = ("time_embedding", "add_embedding", "conv_in", "conv_out", "conv_shortcut")
    assert all(any(f".{layer}." in name for name in kept) for layer in layers), sorted(kept)
    assert not any(quantizers[name].is_enabled for name in kept)
    # Every other layer's weights and inputs are quantized, except what ModelOpt's int8 config itself
    # disables (``*proj_out.*`` is in its default-disabled list: here the attention blocks' output projections).
    others = [name for name in quantizers
              if name not in kept and name.endswith(("weight_quantizer", "input_quantizer"))]
    assert others and all(quantizers[name].is_enabled or ".proj_out." in name for name in others)
    print(f"{len(kept)} quantizers kept in float; {sum(quantizers[n].is_enabled for n in others)} of {len(others)} "
          "other weight/input quantizers enabled")


def test_the_int8_onnx_still_computes_the_calibrated_unet_at_another_size(int8_unet):
    """ONNX Runtime runs standard int8 Q/DQ; it should stay close to ModelOpt's fake-quantized torch UNet."""
    loaded, _, path = int8_unet
    spec = component_spec("unetxl", loaded.dims)
    feeds = sample_inputs(spec, 1, 9, 6, seed=3)
    expected = torch_run(loaded.modules["unetxl"], spec, feeds)["latent"]
    got = ort_runner(path)(feeds)["latent"]
    error = float(np.abs(got - expected).max())
    print(f"int8 ORT vs fake-quant torch: max error {error:.4f} of max |torch| {np.abs(expected).max():.3f}")
    assert got.shape == expected.shape
    assert error <= 0.1 * float(np.abs(expected).max()), "a wrong graph shows O(1) errors; rounding stays small"


def test_fp8_calibration_exports_tensorrt_fp8_quantize_nodes(tiny_source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ONNX Runtime cannot run these ops; folding them once littered the cwd
    _, quantizers = quantized_export(tiny_source, "fp8", tmp_path / "unet.onnx")
    ops = op_counts(tmp_path / "unet.onnx")
    assert quantizers > 0
    assert ops["TRT_FP8QuantizeLinear"] > 0 and ops["TRT_FP8DequantizeLinear"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet.onnx"]


@pytest.mark.parametrize(("precision", "cc"), [("int8", 8.6), ("fp8", 8.9)])
def test_the_tensorrt_config_for_8_bit_plans_is_strongly_typed_without_precision_flags(precision, cc):
    """TensorRT takes int8/fp8 from the Q/DQ nodes of a strongly typed network; its precision flags would be
    rejected there (and are gone in TensorRT 11), so our config must not set them."""
    plan = BuildPlan.model_validate(
        {"source": "builtin://tiny-sdxl", "precision": precision, "compute_capability": cc, "tensorrt_version": "10.8"}
    )
    settings = builder_settings(plan)
    assert settings.strongly_typed and settings.quantization == precision
    config = create_config(settings, profile=None)
    assert not config.int8 and not config.fp8 and not config.fp16
    assert missing_requirements(plan, "10.8.0.43", cc) == [], "modelopt is installed by the builder extra"

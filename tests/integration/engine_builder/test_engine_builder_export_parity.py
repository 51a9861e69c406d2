"""ONNX export of the tiny UNet: dynamic shapes, parity with torch, and the up-sample trap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine_builder.components import component_spec, export_latent_size
from engine_builder.errors import ParityError
from engine_builder.export import LoadedPipeline, export_component, load_pipeline
from engine_builder.onnx_graph import onnx_io
from engine_builder.parity import check_parity
from engine_builder.tiny import materialize

ODD_SHAPES = [(1, 31, 29), (2, 33, 35), (1, 9, 13)]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedPipeline:
    return load_pipeline(materialize(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def unet_onnx(loaded: LoadedPipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "unetxl.onnx"
    latent = export_latent_size(32, loaded.dims.unet_up_factor)
    assert latent % loaded.dims.unet_up_factor != 0
    export_component(loaded, "unetxl", path, (latent, latent))
    return path


def test_the_unet_export_has_nvidia_names_and_dynamic_batch_and_size(unet_onnx: Path):
    io = onnx_io(unet_onnx)
    assert set(io) == {"sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids", "latent"}
    dtype, shape = io["sample"]
    assert dtype == "float32"
    assert isinstance(shape[0], str) and isinstance(shape[2], str) and isinstance(shape[3], str)
    assert shape[1] == 4


def test_the_unet_matches_torch_at_odd_latent_sizes_inside_the_profile(loaded: LoadedPipeline, unet_onnx: Path):
    spec = component_spec("unetxl", loaded.dims)
    results = check_parity(loaded.modules["unetxl"], spec, unet_onnx, [(1, 32, 32), *ODD_SHAPES])
    worst = max(r.max_abs_error for r in results)
    print(f"unetxl parity: worst max-abs error {worst:.3g} over {[r.shape for r in results]}")
    assert all(r.ok for r in results)
    assert worst < 1e-4


def test_exporting_at_a_multiple_of_the_up_factor_bakes_in_sizes_and_fails_parity(
    loaded: LoadedPipeline, tmp_path: Path
):
    """Why export_latent_size exists: the trap is real, and parity catches it."""
    path = tmp_path / "trapped.onnx"
    export_component(loaded, "unetxl", path, (32, 32))
    spec = component_spec("unetxl", loaded.dims)
    with pytest.raises(ParityError, match="unetxl"):
        check_parity(loaded.modules["unetxl"], spec, path, [(1, 31, 29)])


@pytest.mark.parametrize("name", ["clip", "clip2", "vae"])
def test_the_other_components_match_torch(loaded: LoadedPipeline, tmp_path: Path, name: Any):
    path = tmp_path / f"{name}.onnx"
    export_component(loaded, name, path, (31, 31))
    results = check_parity(loaded.modules[name], component_spec(name, loaded.dims), path, [(1, 32, 32), (2, 9, 13)])
    assert all(r.ok for r in results)

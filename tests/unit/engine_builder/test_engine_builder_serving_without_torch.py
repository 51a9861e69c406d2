"""The CPU serving models load and denoise with torch and diffusers absent, as in a serving image without them.

The published model directories are rebuilt here (pipeline.py with its sampling package, inpaint.py,
photoshoot.py, each Triton model's file), then imported the way Triton's Python backend imports
them (the version directory on ``sys.path``) while ``torch`` and ``diffusers`` cannot be imported: a
module that tried would fail here. Triton's own ``triton_python_backend_utils`` is a stub; the
components are fakes, so no weights are needed. The tokenizers still need transformers.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine_builder import tiny
from engine_builder.repository.model_config import MODELS_DIR
from engine_builder.repository.pipeline_files import copy_serving_loop
from tests.builder_extra import builder_module

ABSENT = ("torch", "diffusers")
#: Every Python model of a CPU repository (onnxruntime is their backend, so it stays).
SERVING_MODELS = ("sdxl_model", "inprocess_model", "local_components", "photoshoot_model", "photoshoot_pre_model",
                  "photoshoot_post_model", "onnx_model", "ort_providers", "upscale_model", "speed_tier_model")
HIDDEN1, HIDDEN2, PROJ = 4, 6, 5


def fake_component(name: str) -> Any:
    """Outputs that depend on the inputs (so every step matters), in the components' shapes."""

    def call(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if name in ("clip", "clip2"):
            hidden = np.repeat(feeds["input_ids"].astype(np.float32)[..., None] / 5000, HIDDEN1 if name == "clip"
                               else HIDDEN2, axis=-1)
            return {"text_embeddings": hidden if name == "clip" else hidden[:, 0, :PROJ], "hidden_states": hidden}
        if name.startswith("unetxl"):
            sample = feeds["sample"][:, :4]
            return {"latent": 0.1 * sample + feeds["encoder_hidden_states"].mean(axis=(1, 2))[:, None, None, None]}
        if name == "vae_encoder":
            low = feeds["images"][:, :, ::8, ::8].mean(axis=1, keepdims=True)
            return {"latent_mean": np.repeat(low, 4, axis=1), "latent_std": np.full_like(np.repeat(low, 4, 1), 0.5)}
        return {"images": np.tanh(0.05 * np.repeat(np.repeat(feeds["latent"][:, :3], 8, axis=2), 8, axis=3))}

    return call


@pytest.fixture
def model_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A version directory with every serving file, importable as Triton imports it, torch and diffusers hidden."""
    builder_module("transformers", "the serving loop tokenizes prompts with transformers' CLIPTokenizer")
    builder_module("onnxruntime", "the CPU models run their components on ONNX Runtime")
    version = tmp_path / "1"
    copy_serving_loop(version)
    for module in ("inpaint.py", "photoshoot.py"):
        shutil.copy2(MODELS_DIR.parent / module, version / module)
    for model in SERVING_MODELS:
        shutil.copy2(MODELS_DIR / f"{model}.py", version / f"{model}.py")
    tiny.write_pipeline_inputs(version)
    for name in [n for n in sys.modules if n.partition(".")[0] in ABSENT]:
        monkeypatch.setitem(sys.modules, name, None)  # ``import torch`` (or any torch.x) now raises
    for name in ABSENT:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("triton_python_backend_utils"))
    monkeypatch.syspath_prepend(str(version))
    yield version
    for name, module in list(sys.modules.items()):  # the copies (pipeline, sampling...) go with the directory
        if version in Path(getattr(module, "__file__", None) or "/").parents:
            del sys.modules[name]


def request(module: Any, **fields: Any) -> Any:
    base = {"prompt": "a cat", "negative_prompt": None, "seed": 2**40 + 3, "steps": 3, "guidance_scale": 5.0,
            "width": 64, "height": 48, "scheduler": "euler", "upscale_factor": 1}
    return module.Request(**{**base, **fields})


def test_every_cpu_serving_model_imports_without_torch_or_diffusers(model_directory: Path):
    for model in SERVING_MODELS:
        imported = importlib.import_module(model)
        assert Path(imported.__file__).parent == model_directory
    assert Path(importlib.import_module("sampling").__file__).parent == model_directory / "sampling"
    with pytest.raises(ImportError):
        importlib.import_module("torch.utils.dlpack")  # what the GPU path imports, hidden even if loaded before


@pytest.mark.parametrize("scheduler", ["euler", "euler_a", "ddim", "dpmpp_2m"])
def test_the_sdxl_model_starts_and_denoises_a_batch_without_torch(model_directory: Path, scheduler: str):
    sdxl_model, pipeline = importlib.import_module("sdxl_model"), importlib.import_module("pipeline")
    model = sdxl_model.TritonPythonModel()
    model.initialize({"model_repository": str(model_directory.parent), "model_version": model_directory.name,
                      "model_config": "{}", "model_name": "sdxl"})
    pipe = model.generate
    pipe.components = {name: fake_component(name) for name in ("clip", "clip2", "unetxl", "vae")}
    requests = [request(pipeline, scheduler=scheduler), request(pipeline, scheduler=scheduler, seed=7, prompt="x")]
    images = pipe.batch(requests)
    assert [image.shape for image in images] == [(48, 64, 3)] * 2 and images[0].std() > 1
    np.testing.assert_array_equal(images[0], pipe(requests[0]))


def test_the_photoshoot_model_starts_and_inpaints_without_torch(model_directory: Path):
    photoshoot_model, pipeline = importlib.import_module("photoshoot_model"), importlib.import_module("pipeline")
    model = photoshoot_model.TritonPythonModel()
    model.initialize({"model_repository": str(model_directory.parent), "model_version": model_directory.name})
    components = {name: fake_component(name) for name in ("clip", "clip2", "vae_encoder", "unetxl_inpaint", "vae")}
    model.pipeline.components = model.pipeline.base.components = components
    canvas = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    repaint = np.full((48, 64), 255, np.uint8)
    repaint[8:40, 16:48] = 0
    image = model.pipeline(request(pipeline, scheduler="euler_a"), canvas, repaint)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8

"""The BLS pipeline loop over fake components: what each component is asked, in which shapes/types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine_builder import tiny
from engine_builder.pipeline import Request, RequestCancelledError, SDXLPipeline

HIDDEN1, HIDDEN2, PROJ = 4, 6, 5


class Recorder:
    """Fake components with the tiny shapes that record every call's feeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, np.ndarray]]] = []

    def component(self, name: str) -> Any:
        def call(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            self.calls.append((name, feeds))
            if name in ("clip", "clip2"):
                batch = feeds["input_ids"].shape[0]
                hidden = HIDDEN1 if name == "clip" else HIDDEN2
                first = np.ones((batch, 77, hidden) if name == "clip" else (batch, PROJ), np.float32)
                return {"text_embeddings": first, "hidden_states": np.full((batch, 77, hidden), 0.5, np.float32)}
            if name == "unetxl":
                return {"latent": np.zeros_like(feeds["sample"])}
            batch, _, h, w = feeds["latent"].shape
            return {"images": np.zeros((batch, 3, 8 * h, 8 * w), np.float32)}

        return call

    def named(self, name: str) -> list[dict[str, np.ndarray]]:
        return [feeds for called, feeds in self.calls if called == name]


def run(tmp_path: Path, float_dtype: str = "float32", **overrides: Any) -> tuple[Recorder, np.ndarray]:
    recorder = Recorder()
    components = {name: recorder.component(name) for name in ("clip", "clip2", "unetxl", "vae")}
    pipe = SDXLPipeline(tiny.write_pipeline_inputs(tmp_path, float_dtype=float_dtype), components)
    fields = {"prompt": "a cat", "negative_prompt": None, "seed": 1, "steps": 3, "guidance_scale": 5.0,
              "width": 64, "height": 96, "scheduler": "euler", "upscale_factor": 1, **overrides}
    return recorder, pipe(Request(**fields))


def test_guidance_doubles_the_unet_batch_with_zeroed_negatives_first(tmp_path: Path):
    recorder, image = run(tmp_path)
    assert image.shape == (96, 64, 3) and image.dtype == np.uint8
    unet = recorder.named("unetxl")
    assert len(unet) == 3  # one call per step
    feeds = unet[0]
    assert feeds["sample"].shape == (2, 4, 12, 8)
    assert feeds["encoder_hidden_states"].shape == (2, 77, HIDDEN1 + HIDDEN2)
    assert not feeds["encoder_hidden_states"][0].any() and feeds["encoder_hidden_states"][1].all()
    assert feeds["time_ids"].tolist() == [[96, 64, 0, 0, 96, 64]] * 2
    assert feeds["timestep"].shape == (2,) and feeds["timestep"][0] == feeds["timestep"][1]
    assert len(recorder.named("clip")) == 1, "no negative prompt: nothing to encode"


def test_a_negative_prompt_is_encoded_and_guidance_1_runs_unguided(tmp_path: Path):
    recorder, _ = run(tmp_path / "a", negative_prompt="blurry")
    assert len(recorder.named("clip")) == 2 and len(recorder.named("clip2")) == 2
    recorder, _ = run(tmp_path / "b", guidance_scale=1.0)
    assert recorder.named("unetxl")[0]["sample"].shape[0] == 1


def test_the_vae_gets_fp32_latents_divided_by_the_scaling_factor_even_on_fp16_engines(tmp_path: Path):
    recorder, _ = run(tmp_path, float_dtype="float16")
    assert {feeds["sample"].dtype for feeds in recorder.named("unetxl")} == {np.dtype("float16")}
    assert recorder.named("unetxl")[0]["timestep"].dtype == np.float32
    assert recorder.named("vae")[0]["latent"].dtype == np.float32


@pytest.mark.parametrize("scheduler", ["euler", "euler_a", "ddim", "dpmpp_2m"])
def test_every_scheduler_runs_the_requested_number_of_steps(tmp_path: Path, scheduler: str):
    recorder, _ = run(tmp_path, scheduler=scheduler, steps=4)
    assert len(recorder.named("unetxl")) == 4


def test_a_cancelled_request_stops_at_the_next_step_and_never_decodes(tmp_path: Path):
    recorder = Recorder()
    components = {name: recorder.component(name) for name in ("clip", "clip2", "unetxl", "vae")}
    pipe = SDXLPipeline(tiny.write_pipeline_inputs(tmp_path), components)
    request = Request(prompt="a cat", negative_prompt=None, seed=1, steps=10, guidance_scale=5.0, width=64,
                      height=64, scheduler="euler", upscale_factor=1)
    with pytest.raises(RequestCancelledError):
        pipe(request, lambda: len(recorder.named("unetxl")) == 3)
    assert len(recorder.named("unetxl")) == 3 and recorder.named("vae") == []
    with pytest.raises(RequestCancelledError):
        pipe(request, lambda: True)
    assert len(recorder.named("clip")) == 1, "cancelled before it started: not even the prompt is encoded"

"""Batched pipelines (the in-process mode): one UNet call per step for the batch, per-request noise."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine_builder import tiny
from engine_builder.pipeline import Request, SDXLPipeline, batch_key

HIDDEN1, HIDDEN2, PROJ = 4, 6, 5


class Elementwise:
    """Fake components whose outputs depend on each sample alone, so batching must not change them."""

    def __init__(self) -> None:
        self.unet_batches: list[int] = []

    def __call__(self, name: str) -> Any:
        def call(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if name in ("clip", "clip2"):
                # token ids reach ~590: a small offset keeps the fake image from going flat
                ids = feeds["input_ids"].astype(np.float32)[..., None] / 5000
                hidden = np.repeat(ids, HIDDEN1 if name == "clip" else HIDDEN2, axis=-1)
                first = hidden if name == "clip" else hidden[:, 0, :PROJ]
                return {"text_embeddings": first, "hidden_states": hidden}
            if name == "unetxl":
                self.unet_batches.append(feeds["sample"].shape[0])
                context = feeds["encoder_hidden_states"].mean(axis=(1, 2))[:, None, None, None]
                return {"latent": 0.1 * feeds["sample"] + context}
            latent = feeds["latent"][:, :3]
            return {"images": np.tanh(0.05 * np.repeat(np.repeat(latent, 8, axis=2), 8, axis=3))}

        return call


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[SDXLPipeline, Elementwise]:
    fakes = Elementwise()
    components = {n: fakes(n) for n in ("clip", "clip2", "unetxl", "vae")}
    return SDXLPipeline(tiny.write_pipeline_inputs(tmp_path), components), fakes


def request(**fields: Any) -> Request:
    base = {
        "prompt": "a cat",
        "negative_prompt": None,
        "seed": 1,
        "steps": 3,
        "guidance_scale": 5.0,
        "width": 64,
        "height": 48,
        "scheduler": "euler",
        "upscale_factor": 1,
    }
    return Request(**{**base, **fields})


@pytest.mark.parametrize("scheduler", ["euler", "euler_a", "ddim", "dpmpp_2m"])
def test_a_batch_gives_each_request_the_image_it_gets_alone(pipeline, scheduler: str):
    pipe, _ = pipeline
    requests = [
        request(seed=1, scheduler=scheduler),
        request(seed=2, prompt="a dog", scheduler=scheduler),
        request(seed=3, negative_prompt="blurry", scheduler=scheduler),
    ]
    alone = [pipe(r) for r in requests]
    together = pipe.batch(requests)
    for single, batched in zip(alone, together, strict=True):
        np.testing.assert_array_equal(single, batched)
    assert together[0].std() > 1, "a constant image would make the comparison meaningless"
    assert not np.array_equal(together[0], together[1])


def test_the_unet_runs_once_per_step_for_the_whole_guided_batch(pipeline):
    pipe, fakes = pipeline
    images = pipe.batch([request(seed=1), request(seed=2)])
    assert fakes.unet_batches == [4, 4, 4], "2 requests x (negative, positive), 3 steps"
    assert [image.shape for image in images] == [(48, 64, 3)] * 2


def test_requests_that_differ_in_steps_scheduler_guidance_or_size_cannot_share_a_batch(pipeline):
    pipe, _ = pipeline
    first = request()
    for change in ({"steps": 4}, {"scheduler": "ddim"}, {"guidance_scale": 1.0}, {"width": 72}, {"height": 56}):
        other = dataclasses.replace(first, **change)
        assert batch_key(other) != batch_key(first)
        with pytest.raises(ValueError, match="same steps"):
            pipe.batch([first, other])
    assert batch_key(dataclasses.replace(first, seed=9, prompt="x", negative_prompt="y")) == batch_key(first)

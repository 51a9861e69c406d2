"""Triton Python-backend BLS model ``sdxl``: text in, image out.

Inputs (all [1]): ``prompt`` BYTES; optional ``negative_prompt`` BYTES, ``seed`` INT64, ``steps``
INT32, ``guidance_scale`` FP32, ``width`` INT32, ``height`` INT32, ``scheduler`` BYTES (euler,
euler_a, ddim, dpmpp_2m), ``upscale_factor`` INT32 (1, 2, 4). Output ``image`` UINT8 [H, W, 3] (RGB,
H/W multiplied by the upscale factor) and ``seed`` INT64 [1] (the seed used, random when not given).
Missing optional inputs fall back to SDXL_* environment variables, then built-in defaults
(see pipeline.py). The components are called through BLS, so every UNet step is a request to the
``unetxl`` model, whose dynamic batcher merges steps of concurrent pipelines.
"""

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).parent))
from pipeline import RequestError, SDXLPipeline, defaults_from_env, resolve_request

OUTPUTS = {
    "clip": ["text_embeddings", "hidden_states"],
    "clip2": ["text_embeddings", "hidden_states"],
    "unetxl": ["latent"],
    "vae": ["images"],
}
TIMESTEP_AS_COLUMN = {"timestep"}


def bls_component(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A pipeline component that is a BLS request to the Triton model ``name``."""

    def call(feeds: dict[str, Any]) -> dict[str, Any]:
        inputs = [pb_utils.Tensor(key, value.reshape(-1, 1) if key in TIMESTEP_AS_COLUMN else value)
                  for key, value in feeds.items()]
        response = pb_utils.InferenceRequest(model_name=name, requested_output_names=OUTPUTS[name],
                                             inputs=inputs).exec()
        if response.has_error():
            raise RuntimeError(f"{name}: {response.error().message()}")
        return {key: to_numpy(pb_utils.get_output_tensor_by_name(response, key)) for key in OUTPUTS[name]}

    return call


def to_numpy(tensor: Any) -> Any:
    """BLS outputs of GPU models (TensorRT) may live in device memory; bring them to the host."""
    if tensor.is_cpu():
        return tensor.as_numpy()
    from torch.utils.dlpack import from_dlpack

    return from_dlpack(tensor.to_dlpack()).cpu().numpy()


def scalar(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else value.item()


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        directory = Path(args["model_repository"]) / args["model_version"]
        self.defaults = defaults_from_env(os.environ)
        self.pipeline = SDXLPipeline(directory, {name: bls_component(name) for name in OUTPUTS})
        self.random = random.SystemRandom()

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _one(self, request: Any) -> Any:
        names = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "width", "height",
                 "scheduler", "upscale_factor")
        raw = {name: value for name in names if (value := scalar(request, name)) is not None}
        try:
            parsed = resolve_request(raw, self.defaults, self.pipeline.limits,
                                     lambda: self.random.randrange(2**31))
            image = self.pipeline(parsed)
            if parsed.upscale_factor > 1:
                image = self._upscale(image, parsed.upscale_factor)
        except RequestError as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"invalid request: {err}"))
        except Exception as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"pipeline failed: {err}"))
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("image", image),
            pb_utils.Tensor("seed", np.array([parsed.seed], dtype=np.int64)),
        ])

    def _upscale(self, image: Any, factor: int) -> Any:
        response = pb_utils.InferenceRequest(
            model_name="upscale", requested_output_names=["image"],
            inputs=[pb_utils.Tensor("image", image), pb_utils.Tensor("factor", np.array([factor], dtype=np.int32))],
        ).exec()
        if response.has_error():
            raise RuntimeError(f"upscale: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, "image").as_numpy()

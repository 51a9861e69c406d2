"""Triton Python-backend BLS model ``sdxl-photoshoot``: product photo + scene prompt in, product shot out.

Inputs (all [1]): ``image`` BYTES (PNG/JPEG), ``prompt`` BYTES; optional ``negative_prompt``,
``seed`` INT64, ``steps`` INT32, ``guidance_scale`` FP32, ``width``/``height`` INT32 (SDXL's canvas,
multiples of 8), ``scheduler`` BYTES, ``upscale_factor`` INT32 (1, 2, 4), ``product_scale`` FP32
(0.05..1: the product's longer side over the canvas's shorter side), ``placement`` BYTES (center,
bottom, top, left, right). Outputs: ``image`` BYTES [1] (PNG, width x height times the upscale
factor), ``mask`` BYTES [1] (grayscale PNG of the product's weights, 255 = product), ``seed`` INT64 [1].

Every stage is its own Triton model, called through BLS, so each batches and scales on its own and
shows in the per-model metrics: ``photoshoot_pre`` (decode, ``segmenter``, placement, masks), the SDXL
inpainting components (``clip``, ``clip2``, ``vae_encoder``, ``unetxl_inpaint``, ``vae``), ``upscale``,
and ``photoshoot_post`` (paste the original product back, blend its edge, encode PNG).
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
from inpaint import InpaintPipeline
from photoshoot import PhotoshootInputError, check_layout, settings_from_env
from pipeline import RequestCancelledError, RequestError, cancellation, defaults_from_env, resolve_request

OUTPUTS = {
    "clip": ["text_embeddings", "hidden_states"],
    "clip2": ["text_embeddings", "hidden_states"],
    "vae_encoder": ["latent_mean", "latent_std"],
    "unetxl_inpaint": ["latent"],
    "vae": ["images"],
    "photoshoot_pre": ["canvas", "repaint_mask", "product", "product_mask", "box"],
    "upscale": ["image"],
    "photoshoot_post": ["image", "mask"],
}
TIMESTEP_AS_COLUMN = {"timestep"}
REQUEST_PREFIX = "invalid request: "
SDXL_INPUTS = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "guidance_scale",
    "width",
    "height",
    "scheduler",
    "upscale_factor",
)


class StageRejectedError(Exception):
    """A stage refused the request's data (e.g. ``photoshoot_pre`` on a bad image): the client's fault."""


def bls(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A stage or component that is a BLS request to the Triton model ``name``."""

    def call(feeds: dict[str, Any]) -> dict[str, Any]:
        inputs = [
            pb_utils.Tensor(key, value.reshape(-1, 1) if key in TIMESTEP_AS_COLUMN else value)
            for key, value in feeds.items()
        ]
        response = pb_utils.InferenceRequest(
            model_name=name, requested_output_names=OUTPUTS[name], inputs=inputs
        ).exec()
        if response.has_error():
            message = response.error().message()
            if message.startswith(REQUEST_PREFIX):
                raise StageRejectedError(message.removeprefix(REQUEST_PREFIX))
            raise RuntimeError(f"{name}: {message}")
        return {key: to_numpy(pb_utils.get_output_tensor_by_name(response, key)) for key in OUTPUTS[name]}

    return call


def to_numpy(tensor: Any) -> Any:
    """BLS outputs of GPU models (TensorRT) may live in device memory; bring them to the host."""
    if tensor.is_cpu():
        return tensor.as_numpy()
    from torch.utils.dlpack import from_dlpack

    return from_dlpack(tensor.to_dlpack()).cpu().numpy()


def cancelled_response() -> Any:
    """Triton's CANCELLED status (INTERNAL on servers without it) for a request nobody waits for."""
    code = getattr(pb_utils.TritonError, "CANCELLED", pb_utils.TritonError.INTERNAL)
    return pb_utils.InferenceResponse(error=pb_utils.TritonError("cancelled: the client went away", code))


def scalar(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)[0]
    if name == "image":
        return value
    return value.decode("utf-8") if isinstance(value, bytes) else value.item()


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        directory = Path(args["model_repository"]) / args["model_version"]
        self.defaults = defaults_from_env(os.environ)
        self.settings = settings_from_env(os.environ)
        components = ("clip", "clip2", "vae_encoder", "unetxl_inpaint", "vae")
        self.pipeline = InpaintPipeline(directory, {name: bls(name) for name in components})
        self.random = random.SystemRandom()

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _one(self, request: Any) -> Any:
        raw = {name: value for name in SDXL_INPUTS if (value := scalar(request, name)) is not None}
        image = scalar(request, "image")
        try:
            if image is None:
                raise RequestError("image: required (PNG or JPEG bytes)")
            parsed = resolve_request(raw, self.defaults, self.pipeline.limits, lambda: self.random.randrange(2**31))
            product_scale = scalar(request, "product_scale")
            product_scale = self.settings.product_scale if product_scale is None else float(product_scale)
            placement = scalar(request, "placement") or self.settings.placement
            check_layout(product_scale, placement)
            pre = bls("photoshoot_pre")(
                {
                    "image": np.array([image], dtype=object),
                    "width": np.array([parsed.width], dtype=np.int32),
                    "height": np.array([parsed.height], dtype=np.int32),
                    "upscale_factor": np.array([parsed.upscale_factor], dtype=np.int32),
                    "product_scale": np.array([product_scale], dtype=np.float32),
                    "placement": np.array([placement.encode()], dtype=object),
                }
            )
            generated = self.pipeline(parsed, pre["canvas"], pre["repaint_mask"], cancellation(request))
            if parsed.upscale_factor > 1:
                generated = bls("upscale")(
                    {"image": generated, "factor": np.array([parsed.upscale_factor], dtype=np.int32)}
                )["image"]
            post = bls("photoshoot_post")(
                {
                    "generated": generated,
                    "product": pre["product"],
                    "product_mask": pre["product_mask"],
                    "box": pre["box"],
                }
            )
        except RequestCancelledError:
            return cancelled_response()
        except (RequestError, PhotoshootInputError, StageRejectedError) as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{REQUEST_PREFIX}{err}"))
        except Exception as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"photoshoot failed: {err}"))
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("image", post["image"]),
                pb_utils.Tensor("mask", post["mask"]),
                pb_utils.Tensor("seed", np.array([parsed.seed], dtype=np.int64)),
            ]
        )

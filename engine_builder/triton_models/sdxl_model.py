"""Triton Python-backend BLS model ``sdxl``: text in, image out.

Inputs (all [1]): ``prompt`` BYTES; optional ``negative_prompt`` BYTES, ``seed`` INT64, ``steps``
INT32, ``guidance_scale`` FP32, ``width`` INT32, ``height`` INT32, ``scheduler`` BYTES (euler,
euler_a, ddim, dpmpp_2m), ``upscale_factor`` INT32 (1, 2, 4). Output ``image`` UINT8 [H, W, 3] (RGB,
H/W multiplied by the upscale factor), ``seed`` INT64 [1] (the seed used, random when not given) and
``degraded`` BOOL [1]: true when the overload speed tier served this request with fewer steps than the
default (only requests that did not set ``steps``; the tier comes from the ``speed_tier`` control
model, see speed_tier_model.py). Counters on Triton's /metrics: ``diffusion_degraded_images_total`` and
``diffusion_pipeline_steps_total`` (steps run; the autoscaler's full-step service time divides by it).
Missing optional inputs fall back to SDXL_* environment variables, then built-in defaults
(see pipeline.py). The model-config parameter ``EXECUTION_MODE`` (engine_builder/repository/execution.py) says
where the components run: ``bls`` (default) calls them through BLS, so every UNet step is a request to
the ``unetxl`` model, whose dynamic batcher merges steps of concurrent pipelines; ``in_process`` sends
the validated, seeded request to ``sdxl_inprocess``, which runs whole pipelines in one batched process.
"""

import json
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).parent))
from pipeline import (
    Limits,
    Request,
    RequestCancelledError,
    RequestError,
    SDXLPipeline,
    StopCheck,
    apply_speed_tier,
    cancellation,
    defaults_from_env,
    never,
    resolve_request,
    stop_if,
)

OUTPUTS = {
    "clip": ["text_embeddings", "hidden_states"],
    "clip2": ["text_embeddings", "hidden_states"],
    "unetxl": ["latent"],
    "vae": ["images"],
}
TIMESTEP_AS_COLUMN = {"timestep"}
IN_PROCESS_MODEL = "sdxl_inprocess"
SPEED_TIER_MODEL = "speed_tier"  # layout.SPEED_TIER_MODEL: this file runs in Triton, without the builder


def speed_tier_steps() -> int:
    """The tier the operator set on this pod (0: full steps); a missing or failing control model is 0."""
    try:
        response = pb_utils.InferenceRequest(model_name=SPEED_TIER_MODEL, requested_output_names=["steps"],
                                             inputs=[]).exec()
        if response.has_error():
            return 0
        return int(pb_utils.get_output_tensor_by_name(response, "steps").as_numpy().reshape(-1)[0])
    except Exception:
        return 0


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


def in_process_pipeline(request: Request, cancelled: StopCheck = never) -> Any:
    """The image of one resolved request from ``sdxl_inprocess`` (one BLS call, batched there).

    Cancellation is checked once, before the call: the batch in ``sdxl_inprocess`` is shared with
    other requests, and a blocking BLS call cannot be withdrawn.
    """
    stop_if(cancelled)
    fields: dict[str, tuple[Any, Any]] = {
        "prompt": (request.prompt.encode(), object), "seed": (request.seed, np.int64),
        "steps": (request.steps, np.int32), "guidance_scale": (request.guidance_scale, np.float32),
        "width": (request.width, np.int32), "height": (request.height, np.int32),
        "scheduler": (request.scheduler.encode(), object),
    }
    if request.negative_prompt is not None:
        fields["negative_prompt"] = (request.negative_prompt.encode(), object)
    inputs = [pb_utils.Tensor(name, np.array([[value]], dtype=dtype)) for name, (value, dtype) in fields.items()]
    response = pb_utils.InferenceRequest(model_name=IN_PROCESS_MODEL, requested_output_names=["image"],
                                         inputs=inputs).exec()
    if response.has_error():
        raise RuntimeError(f"{IN_PROCESS_MODEL}: {response.error().message()}")
    return pb_utils.get_output_tensor_by_name(response, "image").as_numpy()[0]


class Counter:
    """A Triton custom metric (Python backend >= 23.05) that can never fail a request.

    The family must outlive its metric (Triton refuses to increment a metric whose family was
    garbage-collected), so both are kept; where the server has no custom metrics it counts nothing.
    """

    def __init__(self, name: str, description: str, model: str) -> None:
        try:
            self.family = pb_utils.MetricFamily(name=name, description=description,
                                                kind=pb_utils.MetricFamily.COUNTER)
            self.metric = self.family.Metric(labels={"model": model})
        except Exception:
            self.family = self.metric = None

    def increment(self, value: float) -> None:
        if self.metric is None:
            return
        try:
            self.metric.increment(value)
        except Exception:
            self.metric = None  # a broken metric stops counting; the image is what matters


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
    return value.decode("utf-8") if isinstance(value, bytes) else value.item()


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        directory = Path(args["model_repository"]) / args["model_version"]
        parameters = json.loads(args["model_config"]).get("parameters", {})
        mode = parameters.get("EXECUTION_MODE", {}).get("string_value", "bls")
        self.defaults = defaults_from_env(os.environ)
        self.random = random.SystemRandom()
        if mode == "bls":
            pipeline = SDXLPipeline(directory, {name: bls_component(name) for name in OUTPUTS})
            self.limits, self.generate = pipeline.limits, pipeline
        elif mode == "in_process":  # no ML imports here: the weights live in sdxl_inprocess only
            settings = json.loads((directory / "pipeline.json").read_text())
            self.limits, self.generate = Limits(**settings["limits"]), in_process_pipeline
        else:
            raise ValueError(f"EXECUTION_MODE: {mode!r} is not one of 'bls', 'in_process'")
        self.degraded_images = Counter("diffusion_degraded_images_total",
                                       "Images served with fewer steps by the overload speed tier", args["model_name"])
        self.steps_run = Counter("diffusion_pipeline_steps_total", "Denoising steps run by the pipeline",
                                 args["model_name"])

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _one(self, request: Any) -> Any:
        names = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "width", "height",
                 "scheduler", "upscale_factor")
        raw = {name: value for name in names if (value := scalar(request, name)) is not None}
        degraded = False
        if "steps" not in raw:
            raw, degraded = apply_speed_tier(raw, speed_tier_steps(), self.defaults.steps)
        try:
            parsed = resolve_request(raw, self.defaults, self.limits, lambda: self.random.randrange(2**31))
            image = self.generate(parsed, cancellation(request))
            if parsed.upscale_factor > 1:
                image = self._upscale(image, parsed.upscale_factor)
        except RequestCancelledError:
            return cancelled_response()
        except RequestError as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"invalid request: {err}"))
        except Exception as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"pipeline failed: {err}"))
        self.steps_run.increment(parsed.steps)
        if degraded:
            self.degraded_images.increment(1)
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("image", image),
            pb_utils.Tensor("seed", np.array([parsed.seed], dtype=np.int64)),
            pb_utils.Tensor("degraded", np.array([degraded], dtype=np.bool_)),
        ])

    def _upscale(self, image: Any, factor: int) -> Any:
        response = pb_utils.InferenceRequest(
            model_name="upscale", requested_output_names=["image"],
            inputs=[pb_utils.Tensor("image", image), pb_utils.Tensor("factor", np.array([factor], dtype=np.int32))],
        ).exec()
        if response.has_error():
            raise RuntimeError(f"upscale: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, "image").as_numpy()

"""Triton Python-backend model ``sdxl_inprocess``: whole pipelines, components in this process.

Only the ``sdxl`` model calls it (execution mode ``in_process``, engine_builder/repository/execution.py), with
requests it has already validated and seeded. Inputs (each [B, 1] with dynamic batching): ``prompt``
BYTES, ``negative_prompt`` BYTES (optional), ``seed`` INT64, ``steps`` INT32, ``guidance_scale`` FP32,
``width`` INT32, ``height`` INT32, ``scheduler`` BYTES. Output ``image`` UINT8 [1, H, W, 3].

Triton hands ``execute`` every request that queued while the previous batch ran (up to
``max_batch_size``); requests that agree on ``pipeline.batch_key`` are denoised as one batch (one
UNet call per step for all of them), the others batch by batch. One instance holds the only copy of
the components (ONNX Runtime on CPU, TensorRT engines on a KIND_GPU instance).
"""

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).parent))
from local_components import load_components
from pipeline import Request, SDXLPipeline, batch_key


def column(request: Any, name: str) -> list[Any] | None:
    """One value per batch row of a [B, 1] input (strings decoded), or None when the input is absent."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    return [v.decode("utf-8") if isinstance(v, bytes) else v.item() for v in tensor.as_numpy().reshape(-1)]


def parse(request: Any) -> list[Request]:
    """The request's rows; they must share ``batch_key`` because their images come back as one tensor."""
    names = ("prompt", "seed", "steps", "guidance_scale", "width", "height", "scheduler")
    columns: dict[str, list[Any]] = {}
    for name in names:
        if (values := column(request, name)) is None:
            raise ValueError(f"{name}: required")
        columns[name] = values
    negative = column(request, "negative_prompt")
    rows = [
        Request(
            prompt=str(columns["prompt"][i]),
            negative_prompt=None if negative is None else str(negative[i]),
            seed=int(columns["seed"][i]),
            steps=int(columns["steps"][i]),
            guidance_scale=float(columns["guidance_scale"][i]),
            width=int(columns["width"][i]),
            height=int(columns["height"][i]),
            scheduler=str(columns["scheduler"][i]),
            upscale_factor=1,
        )
        for i in range(len(columns["prompt"]))
    ]
    if len({batch_key(row) for row in rows}) > 1:
        raise ValueError("the rows of one request must share steps, scheduler, guidance and size")
    return rows


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        directory = Path(args["model_repository"]) / args["model_version"]
        gpu = args.get("model_instance_kind") == "GPU"
        device = int(args["model_instance_device_id"]) if gpu else None
        threads = int(os.environ.get("ORT_THREADS", "0"))
        self.pipeline = SDXLPipeline(directory, load_components(directory, threads, device))

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[tuple[int, list[Request]]]] = {}
        for index, request in enumerate(requests):
            try:
                rows = parse(request)
            except Exception as err:  # a malformed request fails alone
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"invalid request: {err}"))
                continue
            groups.setdefault(batch_key(rows[0]), []).append((index, rows))
        for members in groups.values():
            try:
                images = iter(self.pipeline.batch([row for _, rows in members for row in rows]))
            except Exception as err:
                for index, _ in members:
                    responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"pipeline failed: {err}"))
                continue
            for index, rows in members:
                image = np.stack([next(images) for _ in rows])
                responses[index] = pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("image", image)])
        return responses

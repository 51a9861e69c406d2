"""Triton Python-backend model: one ONNX Runtime session with NVIDIA's tensor names.

The session runs on the CPU, or on ORT's CUDA provider in a GPU pod (ort_providers.py).

Copied as ``<component>/1/model.py`` next to ``model.onnx``. With dynamic batching Triton hands
``execute`` several requests at once; requests whose non-batch dimensions agree are concatenated
on axis 0 and run as one ORT call, so concurrent pipelines really share UNet steps. A 1-D ONNX
input (the UNet's per-sample ``timestep``) arrives as [N, 1] because Triton needs non-empty dims,
and is flattened here (the config declares the same ``reshape``).
"""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # noqa: TID253 - this model exists to run ONNX Runtime inside Triton
import triton_python_backend_utils as pb_utils
from ort_providers import check_providers, execution_providers


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        version_dir = Path(args["model_repository"]) / args["model_version"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_threads", os.environ.get("ORT_THREADS", "0")))
        options.log_severity_level = 3
        providers = execution_providers(ort.get_available_providers(), int(args.get("model_instance_device_id", 0)))
        self.session = ort.InferenceSession(str(version_dir / "model.onnx"), options, providers=providers)
        check_providers(self.session, providers)
        self.ranks = {i.name: len(i.shape) for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _feeds(self, request: Any) -> dict[str, np.ndarray[Any, Any]]:
        feeds = {}
        for name, rank in self.ranks.items():
            array = pb_utils.get_input_tensor_by_name(request, name).as_numpy()
            feeds[name] = array.reshape(array.shape[0]) if rank == 1 and array.ndim == 2 else array
        return feeds

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = {}
        for index, request in enumerate(requests):
            try:
                feeds = self._feeds(request)
            except Exception as err:  # a missing input must fail this request only
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(err)))
                continue
            key = tuple((name, array.shape[1:]) for name, array in sorted(feeds.items()))
            groups.setdefault(key, []).append((index, feeds))
        for members in groups.values():
            try:
                batch = {name: np.concatenate([feeds[name] for _, feeds in members])
                         for name in members[0][1]}
                results = self.session.run(self.outputs, batch)
            except Exception as err:
                for index, _ in members:
                    responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(err)))
                continue
            start = 0
            for index, feeds in members:
                size = next(iter(feeds.values())).shape[0]
                tensors = [pb_utils.Tensor(name, np.ascontiguousarray(result[start:start + size]))
                           for name, result in zip(self.outputs, results, strict=True)]
                responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += size
        return responses

"""Triton Python model ``sdxl`` that takes an L4's time, not its work: the sim-to-real benchmark's server.

Why. The simulator (``bench/autoscaler``) models SDXL on L4: a batch of ``b`` takes
``single_s * b**exponent`` seconds. On this machine's 2 CPU cores a real pipeline's capacity would not
grow with pods, so the autoscaler under test could not be judged. This model sleeps for the batch's
modelled service time (time-compressed by the benchmark: ``single_s`` is already divided), so each pod
is one "GPU" and the fleet's capacity grows with its pods, while everything around it is real:
Triton's dynamic batcher and queue, its metrics, Prometheus, kube-proxy, the kubelet's cold starts and
the operator (or the HPA) that scales it.

Input ``SIZE`` FP32 [1]: the request's work relative to a standard image (1.0). Output ``STARTED``
FP64 [1]: the wall-clock time (``time.time()``) its batch began executing. The load generator runs on
the same host clock, so ``STARTED - sent`` is the request's exact queue wait, the SLA's quantity.
"""

import json
import time
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        parameters = json.loads(args["model_config"]).get("parameters", {})
        self.single_s = float(parameters["single_s"]["string_value"])
        self.exponent = float(parameters["exponent"]["string_value"])

    def execute(self, requests: list[Any]) -> list[Any]:
        started = time.time()
        sizes = [float(pb_utils.get_input_tensor_by_name(r, "SIZE").as_numpy().reshape(-1)[0]) for r in requests]
        # A batch's work: the curve at its size, times its requests' mean size (the simulator's rule).
        time.sleep(self.single_s * len(requests) ** self.exponent * sum(sizes) / len(sizes))
        stamp = np.array([started], dtype=np.float64)
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("STARTED", stamp)]) for _ in requests]

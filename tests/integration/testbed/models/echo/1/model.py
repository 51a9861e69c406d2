"""A Python-backend model that doubles its input after a fixed delay, so requests queue under load."""

import json
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.delay = float(params.get("delay_ms", {}).get("string_value", "0")) / 1000.0

    def execute(self, requests):
        time.sleep(self.delay)  # one delay per batch: the point of dynamic batching
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            out = pb_utils.Tensor("OUTPUT", data * 2)
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses

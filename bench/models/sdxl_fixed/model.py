"""A stand-in ``sdxl`` model for the API overhead benchmark: the real model's inputs and outputs, a fixed image.

It answers at once with a cached picture of the requested size (a smooth gradient with mild noise, so
PNG compresses it about as much as a photograph: a noise-free gradient would flatter the encoder, pure
noise punish it), the request's seed and ``degraded`` false. The benchmark then measures what lies
between a client and Triton, not the pipeline.
"""

import numpy as np
import triton_python_backend_utils as pb_utils


def picture(width, height):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1),
                     127 + 100 * np.sin((x + y) / 37.0)], axis=-1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def scalar(request, name, default):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return default if tensor is None else tensor.as_numpy().reshape(-1)[0].item()


class TritonPythonModel:
    def initialize(self, args):
        self.pictures = {}

    def execute(self, requests):
        responses = []
        for request in requests:
            size = (int(scalar(request, "width", 1024)), int(scalar(request, "height", 1024)))
            if size not in self.pictures:
                self.pictures[size] = picture(*size)
            outputs = [pb_utils.Tensor("image", self.pictures[size]),
                       pb_utils.Tensor("seed", np.array([scalar(request, "seed", 0)], dtype=np.int64)),
                       pb_utils.Tensor("degraded", np.array([False]))]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses

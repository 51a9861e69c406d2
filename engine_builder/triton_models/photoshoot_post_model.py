"""Triton Python-backend model ``photoshoot_post``: paste the product back, blend its edge, encode PNG.

Inputs: ``generated`` UINT8 [H, W, 3] (the inpainted, upscaled background at output size),
``product`` UINT8 [ph, pw, 3] and ``product_mask`` UINT8 [ph, pw] (from ``photoshoot_pre``: the
original photo's pixels), ``box`` INT32 [4]. Outputs ``image`` BYTES [1] (PNG) and ``mask`` BYTES [1]
(grayscale PNG of the product weights). Blend width: ``PHOTOSHOOT_BLEND_PIXELS`` (default 2).
"""

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).parent))
from photoshoot import Box, compose, png_bytes, settings_from_env


def tensor(request: Any, name: str) -> Any:
    return pb_utils.get_input_tensor_by_name(request, name).as_numpy()


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.settings = settings_from_env(os.environ)

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                image, weights = compose(
                    tensor(request, "generated"),
                    tensor(request, "product"),
                    tensor(request, "product_mask"),
                    Box.from_array(tensor(request, "box")),
                    self.settings.blend_pixels,
                )
                outputs = [
                    pb_utils.Tensor("image", np.array([png_bytes(image)], dtype=object)),
                    pb_utils.Tensor("mask", np.array([png_bytes(weights)], dtype=object)),
                ]
                responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
            except Exception as err:
                error = pb_utils.TritonError(f"photoshoot_post failed: {err}")
                responses.append(pb_utils.InferenceResponse(error=error))
        return responses

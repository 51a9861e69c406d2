"""Triton Python-backend model ``upscale``: post-processing of the decoded image.

Input ``image`` UINT8 [H, W, 3] and ``factor`` INT32 [1] (1, 2 or 4); output ``image`` UINT8
[H*factor, W*factor, 3], resampled with Lanczos. It is its own model so a learned upscaler (an
ESRGAN engine with the same I/O) can replace it without touching the pipeline, and so its cost shows
separately in Triton's per-model metrics.
"""

from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from PIL import Image


class TritonPythonModel:
    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            image = pb_utils.get_input_tensor_by_name(request, "image").as_numpy()
            factor = int(pb_utils.get_input_tensor_by_name(request, "factor").as_numpy().reshape(-1)[0])
            if factor not in (1, 2, 4):
                error = pb_utils.TritonError(f"factor: {factor} is not one of 1, 2, 4")
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            height, width = image.shape[:2]
            resized = Image.fromarray(image).resize((width * factor, height * factor), Image.Resampling.LANCZOS)
            out = pb_utils.Tensor("image", np.asarray(resized, dtype=np.uint8))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses

"""Triton Python-backend model ``photoshoot_pre``: the photoshoot's pre-processing stage.

Inputs (all [1]): ``image`` BYTES (PNG/JPEG), ``width``/``height``/``upscale_factor`` INT32,
``product_scale`` FP32, ``placement`` BYTES. It decodes the photo (size limits from
``PHOTOSHOOT_MAX_IMAGE_BYTES``/``PHOTOSHOOT_MAX_IMAGE_PIXELS``), asks the ``segmenter`` model for the
product mask (threshold ``PHOTOSHOOT_MASK_THRESHOLD``), places the product on the output canvas and
builds SDXL's inputs. Outputs: ``canvas`` UINT8 [h, w, 3] and ``repaint_mask`` UINT8 [h, w] (SDXL's
size, 255 = generate), ``product`` UINT8 [ph, pw, 3] and ``product_mask`` UINT8 [ph, pw] (the
product's bounding box in the original photo, untouched), ``box`` INT32 [4] (x, y, width, height on
the output canvas). A bad image fails with ``invalid request: image: ...``.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).parent))
from photoshoot import (
    PhotoshootInputError,
    bounding_box,
    crop,
    decode_image,
    foreground_mask,
    place,
    sdxl_canvas,
    segmenter_input,
    settings_from_env,
)


def scalar(request: Any, name: str) -> Any:
    value = pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1)[0]
    return value if name == "image" else (value.decode("utf-8") if isinstance(value, bytes) else value.item())


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        directory = Path(args["model_repository"]) / args["model_version"]
        self.segmenter = json.loads((directory / "segmenter.json").read_text())
        self.settings = settings_from_env(os.environ)

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _segment(self, image: Any) -> Any:
        feeds = [pb_utils.Tensor(self.segmenter["input_name"], segmenter_input(image, self.segmenter))]
        output = self.segmenter["output_name"]
        response = pb_utils.InferenceRequest(
            model_name="segmenter", requested_output_names=[output], inputs=feeds
        ).exec()
        if response.has_error():
            raise RuntimeError(f"segmenter: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, output).as_numpy()

    def _one(self, request: Any) -> Any:
        try:
            image = decode_image(bytes(scalar(request, "image")), self.settings)
            mask = foreground_mask(self._segment(image), image.shape[:2], self.segmenter, self.settings.mask_threshold)
            width, height = int(scalar(request, "width")), int(scalar(request, "height"))
            factor = int(scalar(request, "upscale_factor"))
            found = bounding_box(mask)
            box = place(
                found,
                width * factor,
                height * factor,
                float(scalar(request, "product_scale")),
                str(scalar(request, "placement")),
            )
            product, product_mask = crop(image, mask, found)
            canvas, repaint = sdxl_canvas(product, product_mask, box, width, height, factor)
        except PhotoshootInputError as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"invalid request: {err}"))
        except Exception as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"photoshoot_pre failed: {err}"))
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("canvas", canvas),
                pb_utils.Tensor("repaint_mask", repaint),
                pb_utils.Tensor("product", product),
                pb_utils.Tensor("product_mask", product_mask),
                pb_utils.Tensor("box", box.as_array()),
            ]
        )

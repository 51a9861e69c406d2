"""Encode an ``sdxl`` image ([H, W, 3] uint8 RGB) as PNG, JPEG or WebP with Pillow.

``output_compression`` is OpenAI's 0..100 quality for JPEG and WebP (unset: 90, where both formats
look clean at a fraction of 100's size); PNG is lossless and ignores it. PNG uses zlib level 3:
on a noisy 1024² test image (this machine, 2 busy cores) it took 0.20 s against level 6's 0.28 s for
8 % more bytes, and encoding runs on the activator's CPUs for every image (in a thread, off the
event loop). JPEG took 6 ms for the same image: the format to ask for when latency matters.
"""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from diffusion_operator.activator.openai.requests import OutputFormat

DEFAULT_QUALITY = 90
PNG_COMPRESS_LEVEL = 3
_PILLOW_FORMATS: dict[OutputFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def encode(image: NDArray[np.uint8], output_format: OutputFormat, compression: int | None = None) -> bytes:
    picture = Image.fromarray(np.ascontiguousarray(image))
    out = io.BytesIO()
    if output_format == "png":
        picture.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        quality = DEFAULT_QUALITY if compression is None else compression
        picture.save(out, format=_PILLOW_FORMATS[output_format], quality=quality)
    return out.getvalue()

"""One product shot, start to finish: read the photo, check the request, send it, write the PNGs.

The ``sdxl-photoshoot`` model (engine_builder/README.md, "The sdxl-photoshoot model") returns the
composed image and the product mask as PNG bytes; the image is written with the request in its text
chunks (like ``diffusion generate``), the mask next to it as ``<output>.mask.png``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from diffusion_operator.client.errors import UsageError
from diffusion_operator.client.png import png_metadata, write_png
from diffusion_operator.client.request import PhotoshootRequest
from diffusion_operator.client.triton import DEFAULT_TIMEOUT_S, Endpoint, TritonClient
from engine_builder.layout import PHOTOSHOOT_MODEL


def read_image(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise UsageError(f"image: cannot read {path}: {err.strerror or err}") from err


@dataclass(frozen=True)
class ProductShot:
    path: Path
    mask_path: Path
    seed: int
    seconds: float
    width: int
    height: int


def default_output(seed: int) -> Path:
    return Path(f"photoshoot-{seed}.png")


def mask_path_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}.mask.png")


def photoshoot_png(
    endpoint: Endpoint, request: PhotoshootRequest, output: Path | None, timeout_s: float = DEFAULT_TIMEOUT_S,
    api_key: str | None = None,
) -> ProductShot:
    """Run ``request`` at ``endpoint``; write ``output`` (default ``photoshoot-<seed>.png``) and its mask.

    ``api_key``: for a service with ``spec.api``, whose activator asks KServe requests for a key too."""
    request = request.validated()
    client = TritonClient(endpoint, timeout_s=timeout_s, api_key=api_key)
    try:
        client.check_ready(PHOTOSHOOT_MODEL)
        result = client.photoshoot(request)
    finally:
        client.close()
    path = output or default_output(result.seed)
    with Image.open(io.BytesIO(result.image_png)) as decoded:
        image = np.asarray(decoded.convert("RGB"), dtype=np.uint8)
    write_png(
        path,
        image,
        png_metadata(
            request.prompt,
            result.seed,
            negative_prompt=request.negative_prompt,
            steps=request.steps,
            model=PHOTOSHOOT_MODEL,
        ),
    )
    mask_path = mask_path_for(path)
    try:
        mask_path.write_bytes(result.mask_png)
    except OSError as err:
        raise UsageError(f"cannot write {mask_path}: {err.strerror or err}") from err
    height, width = image.shape[:2]
    return ProductShot(
        path=path, mask_path=mask_path, seed=result.seed, seconds=result.seconds, width=width, height=height
    )

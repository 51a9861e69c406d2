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
from diffusion_operator.client.request import MAX_SEED
from diffusion_operator.client.triton import DEFAULT_TIMEOUT_S, PHOTOSHOOT_MODEL, Endpoint, TritonClient

#: engine_builder.photoshoot's bounds, checked here too so a typo costs no upload.
PLACEMENTS = ("center", "bottom", "top", "left", "right")
MIN_PRODUCT_SCALE, MAX_PRODUCT_SCALE = 0.05, 1.0
UPSCALE_FACTORS = (1, 2, 4)
#: The server's default upload limit (PHOTOSHOOT_MAX_IMAGE_BYTES); a bigger file is refused before sending.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class PhotoshootRequest:
    """One ``sdxl-photoshoot`` request; ``None`` leaves an input out so the server's default applies."""

    image: bytes
    prompt: str
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    upscale_factor: int | None = None
    product_scale: float | None = None
    placement: str | None = None

    def validated(self) -> PhotoshootRequest:
        if not self.prompt.strip():
            raise UsageError("prompt: must not be empty")
        if not self.image:
            raise UsageError("image: the file is empty")
        if len(self.image) > MAX_IMAGE_BYTES:
            raise UsageError(
                f"image: {len(self.image) / 1e6:.1f} MB is larger than the {MAX_IMAGE_BYTES / 1e6:.0f} MB upload limit"
            )
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"seed: {self.seed} must be in 0..2**63-1")
        if self.upscale_factor is not None and self.upscale_factor not in UPSCALE_FACTORS:
            raise UsageError(f"upscale: {self.upscale_factor} is not one of 1, 2, 4")
        if self.product_scale is not None and not MIN_PRODUCT_SCALE <= self.product_scale <= MAX_PRODUCT_SCALE:
            raise UsageError(f"product-scale: {self.product_scale} is outside {MIN_PRODUCT_SCALE}..{MAX_PRODUCT_SCALE}")
        if self.placement is not None and self.placement not in PLACEMENTS:
            raise UsageError(f"placement: {self.placement!r} is not one of {', '.join(PLACEMENTS)}")
        return self


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
    endpoint: Endpoint, request: PhotoshootRequest, output: Path | None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ProductShot:
    """Run ``request`` at ``endpoint``; write ``output`` (default ``photoshoot-<seed>.png``) and its mask."""
    request = request.validated()
    client = TritonClient(endpoint, timeout_s=timeout_s)
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

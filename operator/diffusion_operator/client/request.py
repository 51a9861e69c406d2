"""What one request is (an ``sdxl`` image, an ``sdxl-photoshoot`` product shot), and the checks the
client makes before sending it.

The server validates too (``engine_builder.pipeline.resolve_request``); checking the same bounds
here turns a typo into an instant, local one-line error instead of a round trip and a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from diffusion_operator.client.errors import UsageError

#: The pipeline's bounds (``engine_builder.pipeline.Limits`` / ``MAX_STEPS``); TensorRT profiles
#: of a real deployment may be narrower, which the server then reports.
MIN_SIDE = 64
MAX_SIDE = 1536
SIDE_MULTIPLE = 8
MAX_SEED = 2**63 - 1
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x768"`` -> ``(1024, 768)`` (width, height); sides are multiples of 8 in 64..1536.

    SDXL's VAE downsamples by 8, so any other side cannot be encoded into a latent.
    """
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 1024x1024")
    width, height = int(match.group(1)), int(match.group(2))
    for name, side in (("width", width), ("height", height)):
        if side % SIDE_MULTIPLE:
            raise UsageError(f"size {text!r}: {name} {side} is not a multiple of {SIDE_MULTIPLE}")
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise UsageError(f"size {text!r}: {name} {side} is outside {MIN_SIDE}..{MAX_SIDE}")
    return width, height


@dataclass(frozen=True)
class ImageRequest:
    """One ``sdxl`` request; ``None`` leaves the input out so the server's default applies."""

    prompt: str
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    #: 1, 2 or 4: the ``upscale`` model after the pipeline (``spec.pipeline.upscale`` is the default).
    upscale_factor: int | None = None

    def validated(self) -> ImageRequest:
        """Self, after the checks that must happen before encoding.

        Steps, guidance and scheduler are the serving pods' business (their bounds and defaults are
        serving settings), so the server judges them and the CLI reports its verdict (exit 5).
        The seed is checked here because it must fit the INT64 tensor it travels in.
        """
        if not self.prompt.strip():
            raise UsageError("prompt: must not be empty")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"seed: {self.seed} must be in 0..2**63-1")
        return self


#: engine_builder.photoshoot's bounds, checked here too so a typo costs no upload.
PLACEMENTS = ("center", "bottom", "top", "left", "right")
MIN_PRODUCT_SCALE, MAX_PRODUCT_SCALE = 0.05, 1.0
UPSCALE_FACTORS = (1, 2, 4)
#: The server's default upload limit (PHOTOSHOOT_MAX_IMAGE_BYTES); a bigger file is refused before sending.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: The server's default pixel limit (PHOTOSHOOT_MAX_IMAGE_PIXELS), checked from the header before decoding.
MAX_IMAGE_PIXELS = 4096 * 4096


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
    guidance_scale: float | None = None
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

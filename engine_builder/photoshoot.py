"""The photoshoot's image operations: decode, segment, place, mask, compose. numpy + PIL only.

Copied verbatim into the ``photoshoot_pre``, ``photoshoot_post`` and ``sdxl-photoshoot`` models of a
published repository, so it imports nothing from ``engine_builder``. Every function is pure and
deterministic; the Triton models only move tensors between them.

Geometry. The product's bounding box (from the segmentation mask) is scaled so its longer side is
``product_scale`` x the shorter side of the *output* canvas (``width``/``height`` times the upscale
factor) and placed by ``placement``. When that size equals the box's own size the product is not
resampled at all; otherwise it is resampled once, with Lanczos, from the original photo.

Pixels. SDXL inpaints at ``width`` x ``height`` a canvas holding the product (repaint mask = not
product). After the upscale, the product is pasted back from the original photo at output
resolution. Weights: 1 on the product's core, ``k / (blend + 1)`` on the k-th ring (from the outside)
of its outermost ``blend`` pixels, 0 elsewhere. So the product's core is *exactly* the placed
original pixels, and everything outside the product mask is exactly the generated background.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

PLACEMENTS = ("center", "bottom", "top", "left", "right")
DEFAULT_PLACEMENT = "center"
DEFAULT_PRODUCT_SCALE = 0.6
MIN_PRODUCT_SCALE = 0.05
MAX_PRODUCT_SCALE = 1.0
#: Upload limits: a 20 MB / 16.7 MP photo covers print-size product shots; larger is an error, not a crash.
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
DEFAULT_MASK_THRESHOLD = 0.5
#: Rings of the product's edge that are blended with the background (at output resolution).
DEFAULT_BLEND_PIXELS = 2
#: Fewer product pixels than this is "no foreground": a speck of noise is not a product.
MIN_FOREGROUND_PIXELS = 16
#: Gap between the product and the canvas edge it sits against (bottom/top/left/right placements).
PLACEMENT_MARGIN = 0.05
#: What SDXL sees behind the product before inpainting (masked out of its input anyway).
BACKGROUND_FILL = 127
ACCEPTED_FORMATS = ("PNG", "JPEG")


class PhotoshootInputError(ValueError):
    """The uploaded image or a photoshoot setting is unusable; the message starts with the input's name."""


@dataclass(frozen=True)
class Settings:
    """Serving settings of the photoshoot stages (env ``PHOTOSHOOT_*``; never in the build plan)."""

    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    mask_threshold: float = DEFAULT_MASK_THRESHOLD
    blend_pixels: int = DEFAULT_BLEND_PIXELS
    product_scale: float = DEFAULT_PRODUCT_SCALE
    placement: str = DEFAULT_PLACEMENT


def settings_from_env(env: Mapping[str, str]) -> Settings:
    base = Settings()
    try:
        settings = Settings(
            max_image_bytes=int(env.get("PHOTOSHOOT_MAX_IMAGE_BYTES", base.max_image_bytes)),
            max_image_pixels=int(env.get("PHOTOSHOOT_MAX_IMAGE_PIXELS", base.max_image_pixels)),
            mask_threshold=float(env.get("PHOTOSHOOT_MASK_THRESHOLD", base.mask_threshold)),
            blend_pixels=int(env.get("PHOTOSHOOT_BLEND_PIXELS", base.blend_pixels)),
            product_scale=float(env.get("PHOTOSHOOT_DEFAULT_PRODUCT_SCALE", base.product_scale)),
            placement=env.get("PHOTOSHOOT_DEFAULT_PLACEMENT", base.placement),
        )
    except ValueError as err:
        raise PhotoshootInputError(f"PHOTOSHOOT_* settings: {err}") from err
    if not 0.0 < settings.mask_threshold < 1.0 or settings.blend_pixels < 0 or settings.max_image_bytes < 1:
        raise PhotoshootInputError("PHOTOSHOOT_* settings: threshold must be in (0, 1), blend >= 0, bytes >= 1")
    check_layout(settings.product_scale, settings.placement, "PHOTOSHOOT_DEFAULT_")
    return settings


def check_layout(product_scale: float, placement: str, prefix: str = "") -> None:
    if not MIN_PRODUCT_SCALE <= product_scale <= MAX_PRODUCT_SCALE:
        raise PhotoshootInputError(
            f"{prefix}product_scale: {product_scale} is outside {MIN_PRODUCT_SCALE}..{MAX_PRODUCT_SCALE}"
        )
    if placement not in PLACEMENTS:
        raise PhotoshootInputError(f"{prefix}placement: {placement!r} is not one of {', '.join(PLACEMENTS)}")


def decode_image(data: bytes, settings: Settings) -> NDArray[np.uint8]:
    """PNG/JPEG bytes -> RGB uint8 [H, W, 3]; EXIF orientation applied, transparency flattened on white.

    The pixel limit is checked from the header before any pixel is decoded, so a decompression
    bomb costs nothing.
    """
    if not data:
        raise PhotoshootInputError("image: empty (send PNG or JPEG bytes)")
    if len(data) > settings.max_image_bytes:
        raise PhotoshootInputError(
            f"image: {len(data) / 1e6:.1f} MB is larger than the limit of {settings.max_image_bytes / 1e6:.1f} MB"
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as err:
        raise PhotoshootInputError("image: not a PNG or JPEG image") from err
    except Image.DecompressionBombError as err:
        raise PhotoshootInputError(f"image: too large ({err})") from err
    width, height = image.size
    if width * height > settings.max_image_pixels:
        raise PhotoshootInputError(
            f"image: {width}x{height} pixels is larger than the limit of "
            f"{settings.max_image_pixels} pixels ({settings.max_image_pixels / 1e6:.1f} MP)"
        )
    try:
        upright: Image.Image = ImageOps.exif_transpose(image)
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            rgba = upright.convert("RGBA")
            upright = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return np.asarray(upright.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise PhotoshootInputError(f"image: cannot decode the {image.format} data: {err}") from err


def segmenter_input(image: NDArray[np.uint8], config: Mapping[str, Any]) -> NDArray[np.float32]:
    """[H, W, 3] uint8 -> [1, 3, h, w] float32: resized to the model's input size, normalised."""
    size = config.get("input_size")
    if size is not None and tuple(size) != image.shape[:2]:
        image = np.asarray(Image.fromarray(image).resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR))
    pixels = image.astype(np.float32) / 255.0
    mean = np.asarray(config.get("mean", (0.0, 0.0, 0.0)), dtype=np.float32)
    std = np.asarray(config.get("std", (1.0, 1.0, 1.0)), dtype=np.float32)
    return np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1)[None])


def foreground_mask(
    output: NDArray[Any], image_hw: tuple[int, int], config: Mapping[str, Any], threshold: float
) -> NDArray[np.bool_]:
    """The model's first output -> the product mask at the photo's size (raw probability, thresholded).

    Raises when the model finds no product: thresholding is the only post-processing, so an empty
    mask is the model's own verdict.
    """
    probability = np.asarray(output, dtype=np.float32).reshape(output.shape[-2:])
    if config.get("output") == "logits":
        probability = 1.0 / (1.0 + np.exp(-probability))
    if probability.shape != image_hw:
        resized = Image.fromarray(probability, mode="F").resize((image_hw[1], image_hw[0]), Image.Resampling.BILINEAR)
        probability = np.asarray(resized, dtype=np.float32)
    mask = probability > threshold
    found = int(mask.sum())
    if found < MIN_FOREGROUND_PIXELS:
        raise PhotoshootInputError(
            f"image: no foreground found (the segmentation model marked {found} of {mask.size} pixels as product "
            f"at threshold {threshold}; at least {MIN_FOREGROUND_PIXELS} are needed)"
        )
    return mask


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    def as_array(self) -> NDArray[np.int32]:
        return np.array([self.x, self.y, self.width, self.height], dtype=np.int32)

    @staticmethod
    def from_array(values: NDArray[Any]) -> Box:
        x, y, width, height = (int(v) for v in np.asarray(values).reshape(-1)[:4])
        return Box(x, y, width, height)


def bounding_box(mask: NDArray[np.bool_]) -> Box:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def place(product: Box, canvas_w: int, canvas_h: int, product_scale: float, placement: str) -> Box:
    """Where the product goes on the output canvas: its longer side = scale x the canvas's shorter side."""
    check_layout(product_scale, placement)
    longest = max(1, round(product_scale * min(canvas_w, canvas_h)))
    factor = longest / max(product.width, product.height)
    width = min(canvas_w, max(1, round(product.width * factor)))
    height = min(canvas_h, max(1, round(product.height * factor)))
    margin = round(PLACEMENT_MARGIN * min(canvas_w, canvas_h))
    x, y = (canvas_w - width) // 2, (canvas_h - height) // 2
    if placement == "bottom":
        y = canvas_h - height - margin
    elif placement == "top":
        y = margin
    elif placement == "left":
        x = margin
    elif placement == "right":
        x = canvas_w - width - margin
    return Box(min(max(0, x), canvas_w - width), min(max(0, y), canvas_h - height), width, height)


def crop(image: NDArray[np.uint8], mask: NDArray[np.bool_], box: Box) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The product's pixels and mask (0/255) inside its bounding box, at the photo's resolution."""
    rows, cols = slice(box.y, box.y + box.height), slice(box.x, box.x + box.width)
    return np.ascontiguousarray(image[rows, cols]), np.where(mask[rows, cols], 255, 0).astype(np.uint8)


def place_layer(
    product: NDArray[np.uint8], product_mask: NDArray[np.uint8], box: Box, canvas_w: int, canvas_h: int
) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """The product at ``box`` on an empty canvas: (RGB, alpha). Not resampled when the size already fits."""
    rgb, alpha = product, product_mask >= 128
    if (box.width, box.height) != (product.shape[1], product.shape[0]):
        size = (box.width, box.height)
        rgb = np.asarray(Image.fromarray(product).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
        alpha = np.asarray(Image.fromarray(product_mask).resize(size, Image.Resampling.BILINEAR)) >= 128
    layer = np.zeros((canvas_h, canvas_w, 3), dtype=np.uint8)
    layer_alpha = np.zeros((canvas_h, canvas_w), dtype=bool)
    rows, cols = slice(box.y, box.y + box.height), slice(box.x, box.x + box.width)
    layer[rows, cols] = rgb
    layer_alpha[rows, cols] = alpha
    return layer, layer_alpha


def scaled_box(box: Box, factor: int) -> Box:
    """``box`` on the output canvas -> the same region on SDXL's canvas (output / factor)."""
    if factor == 1:
        return box
    return Box(box.x // factor, box.y // factor, max(1, round(box.width / factor)), max(1, round(box.height / factor)))


def sdxl_canvas(
    product: NDArray[np.uint8], product_mask: NDArray[np.uint8], box: Box, width: int, height: int, factor: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """SDXL's inpainting input: (canvas [h, w, 3], repaint mask [h, w], 255 = generate, 0 = product)."""
    layer, alpha = place_layer(product, product_mask, scaled_box(box, factor), width, height)
    canvas = np.where(alpha[..., None], layer, np.uint8(BACKGROUND_FILL)).astype(np.uint8)
    return canvas, np.where(alpha, 0, 255).astype(np.uint8)


def erode(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """3x3 erosion; the canvas edge counts as continuing the mask (a product cut by the edge stays sharp)."""
    padded = np.pad(mask, 1, mode="edge")
    height, width = mask.shape
    out = mask.copy()
    for dy in range(3):
        for dx in range(3):
            out &= padded[dy : dy + height, dx : dx + width]
    return out


def blend_weights(alpha: NDArray[np.bool_], blend_pixels: int) -> NDArray[np.float32]:
    """Product weight per pixel: 1 on the core, k / (blend + 1) on the k-th outer ring, 0 outside."""
    weights = alpha.astype(np.float32)
    current = alpha
    for ring in range(1, blend_pixels + 1):
        eroded = erode(current)
        weights[current & ~eroded] = ring / (blend_pixels + 1)
        current = eroded
    return weights


def compose(
    generated: NDArray[np.uint8],
    product: NDArray[np.uint8],
    product_mask: NDArray[np.uint8],
    box: Box,
    blend_pixels: int,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The final image and its product mask (0..255, the blend weights) at the generated image's size."""
    height, width = generated.shape[:2]
    layer, alpha = place_layer(product, product_mask, box, width, height)
    weights = blend_weights(alpha, blend_pixels)
    mixed = weights[..., None] * layer.astype(np.float32) + (1 - weights[..., None]) * generated.astype(np.float32)
    image = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    image[weights == 1.0] = layer[weights == 1.0]  # exact: no float round trip on the product's core
    image[weights == 0.0] = generated[weights == 0.0]
    return image, np.round(weights * 255).astype(np.uint8)


def png_bytes(array: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()

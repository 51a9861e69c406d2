"""An edit's uploads, checked and made into the one photo the photoshoot pipeline reads (Pillow).

Each file is opened with Pillow (the header says its format and size before any pixel is decoded,
so a decompression bomb costs nothing) and then decoded whole, so a file that is not an image, or a
truncated one, is a 400 naming its field here rather than a refusal from Triton after a queue.

Without a mask, a PNG or JPEG goes to the pipeline as uploaded (it decodes it itself: EXIF
orientation, transparency onto white). A WebP (OpenAI accepts it; the pipeline reads PNG and JPEG)
becomes a PNG. With a mask (see ``edits`` for what it means), the photo is turned upright, made
transparent where the mask's alpha is 0, cropped to what is left and sent as an RGBA PNG. The crop
does not move the product in the result (the pipeline places it by its own bounding box); it keeps
the PNG under the pipeline's byte limit more often, and the segmenter sees the kept part larger.
The mask is compared with the photo as it is displayed, EXIF orientation applied: that is the
picture a person paints a mask on.

All of it is CPU work on up to 16.7 MP: the routes run it in a thread, one photo at a time.
"""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.errors import ApiError

#: OpenAI's edit formats (png, webp, jpg).
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
#: What the photoshoot pipeline decodes itself (``engine_builder.photoshoot.ACCEPTED_FORMATS``).
PIPELINE_FORMATS = ("PNG", "JPEG")
#: zlib level of the PNG made from a masked photo: the fastest; it only crosses the cluster's network.
PNG_COMPRESS_LEVEL = 1


def _opened(data: bytes, param: str, max_pixels: int) -> Image.Image:
    try:
        picture = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise errors.invalid(param, f"Invalid '{param}': the file is not a PNG, JPEG or WebP image.",
                             code="invalid_image_format") from None
    except Image.DecompressionBombError:
        raise _too_many_pixels(param, None, max_pixels) from None
    width, height = picture.size
    if width * height > max_pixels:
        raise _too_many_pixels(param, (width, height), max_pixels)
    try:
        picture.load()
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise errors.invalid(param, f"Invalid '{param}': the {picture.format} data cannot be decoded ({error}).",
                             code="invalid_image") from None
    return picture


def _too_many_pixels(param: str, size: tuple[int, int] | None, max_pixels: int) -> ApiError:
    dimensions = f"{size[0]}x{size[1]} pixels" if size else "the image"
    return ApiError(413, f"Invalid '{param}': {dimensions} is more than this service's limit of {max_pixels} pixels "
                         f"({max_pixels / 1e6:.1f} MP).", param=param, code="image_too_large")


def _png(picture: Image.Image, max_bytes: int) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    if out.tell() > max_bytes:
        raise errors.ApiError(413, f"The photo to edit is {out.tell()} bytes as PNG after the mask was applied, more "
                                   f"than the pipeline's limit of {max_bytes} bytes: send a smaller image.",
                              param="image", code="request_too_large")
    return out.getvalue()


def photo_for_pipeline(image: bytes, mask: bytes | None, max_pixels: int, max_bytes: int) -> bytes:
    """The ``image`` tensor for ``sdxl-photoshoot``; ``ApiError`` naming ``image`` or ``mask`` when unusable."""
    picture = _opened(image, "image", max_pixels)
    if mask is None and picture.format in PIPELINE_FORMATS:
        return image
    upright = ImageOps.exif_transpose(picture).convert("RGBA")
    if mask is not None:
        stencil = _opened(mask, "mask", max_pixels)
        if stencil.size != upright.size:
            raise errors.invalid("mask", f"Invalid 'mask': it is {stencil.width}x{stencil.height} and the image is "
                                         f"{upright.width}x{upright.height} (as displayed, EXIF orientation applied); "
                                         "they must be the same size.", code="invalid_mask_size")
        if not stencil.has_transparency_data:
            raise errors.invalid("mask", "Invalid 'mask': it has no alpha channel. Its fully transparent pixels "
                                         "(alpha 0) mark where to edit; send a PNG with transparency.",
                                 code="invalid_mask")
        edit = np.asarray(stencil.convert("RGBA").getchannel("A")) == 0
        alpha = np.asarray(upright.getchannel("A")).copy()
        alpha[edit] = 0
        upright.putalpha(Image.fromarray(alpha))
        box = upright.getchannel("A").getbbox()
        if box is None:
            raise errors.invalid("mask", "Invalid 'mask': it is transparent everywhere, so nothing of the image "
                                         "would be kept; the photoshoot keeps the product and repaints the rest.",
                                 code="invalid_mask")
        upright = upright.crop(box)
    return _png(upright, max_bytes)


def image_size(png: bytes) -> tuple[int, int]:
    """(width, height) from an image's header."""
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size


def decoded_rgb(png: bytes) -> NDArray[np.uint8]:
    """The pipeline's PNG as [H, W, 3] uint8, for re-encoding as JPEG or WebP."""
    with Image.open(io.BytesIO(png)) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.uint8)

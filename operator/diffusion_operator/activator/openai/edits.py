"""The form of ``POST /v1/images/edits``, checked into an ``EditJob`` for the photoshoot pipeline.

What an edit is here. The service's edit pipeline is the photoshoot (``sdxl-photoshoot``,
``engine_builder/photoshoot.py``): it finds the product in the photo (a segmentation model), places it
on a new canvas (``product_scale``, ``placement``) and has SDXL inpaint everything around it from the
prompt; the product's own pixels are pasted back unchanged. So an edit keeps the photo's subject and
replaces its surroundings; it is not an instruction-following editor ("make the cup red" repaints
the scene around the cup, never the cup).

OpenAI's fields map onto the pipeline's inputs one to one: ``image`` -> ``image``, ``prompt`` and the
generation extensions (``negative_prompt``, ``seed``, ``num_inference_steps``, ``guidance_scale``,
``upscale``) -> the same inputs as ``sdxl``, ``size`` -> ``width`` x ``height`` (the SDXL canvas, under
the same caps as generations). Ours, under the pipeline's names: ``product_scale`` (the product's
longer side over the canvas's shorter side, 0.05..1) and ``placement`` (center, bottom, top, left,
right); unset, the service's defaults.

``mask`` (OpenAI: "fully transparent areas indicate where image should be edited") has no input of
its own in the pipeline; it narrows what the pipeline may keep. ``photos.photo_for_pipeline`` makes
the photo's pixels transparent wherever the mask's alpha is 0, and the pipeline flattens
transparency onto white before segmenting, so what the mask marks for editing is never kept: it is
repainted. Within the mask's opaque part the segmenter still decides what the product is, and the
product is placed by ``product_scale``/``placement``, not left where it was. An ``image`` that is
itself transparent works the same way without a mask, as OpenAI's DALL-E 2 edits do.

Form values are text, so this body is parsed in pydantic's lax mode ("2" is 2); unknown fields are
refused as for generations, and an empty value counts as absent (a client that sends ``n=`` means
"no n").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ConfigDict, Field

from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.requests import ImageBody, ImageJob, parse_as, to_job
from diffusion_operator.activator.openai.settings import ApiSettings
from diffusion_operator.client.request import MAX_PRODUCT_SCALE, MIN_PRODUCT_SCALE, PLACEMENTS

#: The form's file parts; OpenAI's client sends one image as ``image`` and a list as ``image[]``.
FILE_PARTS = {"image": "image", "image[]": "image", "mask": "mask", "markup": "markup"}


class EditBody(ImageBody):
    """The form's text fields; lax types because every form value is a string."""

    model_config = ConfigDict(strict=False)

    # Accepted and ignored: how closely OpenAI's own models follow the input's features.
    input_fidelity: str | None = None
    product_scale: float | None = Field(default=None, ge=MIN_PRODUCT_SCALE, le=MAX_PRODUCT_SCALE)
    placement: str | None = None


@dataclass(frozen=True)
class Form:
    """A multipart form as read (``multipart.read_form``): text fields and file parts by name."""

    fields: dict[str, str]
    files: dict[str, bytes]


@dataclass(frozen=True)
class EditJob:
    """A checked edit: the image job (prompt, size, seeds, formats) plus the photoshoot's own inputs."""

    job: ImageJob
    image: bytes
    mask: bytes | None
    product_scale: float | None
    placement: str | None


def to_edit_job(form: Form, settings: ApiSettings, draw_seed: Callable[[int], int]) -> EditJob:
    """The fields first (a wrong ``n`` costs no image decoding), then which files came."""
    body = parse_as({name: value for name, value in form.fields.items() if value != ""}, EditBody)
    if body.placement is not None and body.placement not in PLACEMENTS:
        raise errors.invalid("placement", f"placement {body.placement!r} is not one of {', '.join(PLACEMENTS)}.")
    job = to_job(body, settings, draw_seed)
    if "markup" in form.files:
        raise errors.invalid("markup", "markup is not supported: the photoshoot pipeline takes an image and an "
                                       "optional mask.")
    image = form.files.get("image")
    if image is None:
        raise errors.invalid("image", "Missing required parameter: 'image' (a PNG, JPEG or WebP file part).",
                             code="missing_required_parameter")
    return EditJob(job=job, image=image, mask=form.files.get("mask"), product_scale=body.product_scale,
                   placement=body.placement)

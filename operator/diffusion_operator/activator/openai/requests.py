"""The body of ``POST /v1/images/generations``: OpenAI's fields, the open servers' extensions, our caps.

``ImageBody`` holds the fields generations and edits share and ``to_job`` checks them for both; the
edit's own fields and its uploads are in ``edits``.

OpenAI's fields (``prompt``, ``model``, ``n``, ``size``, ``response_format``, ``output_format``,
``output_compression``, ``user``...) keep OpenAI's names and meanings. What SDXL needs and OpenAI
lacks comes under the names SGLang, vLLM-Omni and LocalAI use: ``seed``, ``num_inference_steps``,
``guidance_scale``, ``negative_prompt``; ``upscale`` (1, 2 or 4) is ours.

Unknown fields are refused with 400 naming the field, as OpenAI's API does ("Unrecognized request
argument supplied"): a typo such as ``num_steps`` must not silently fall back to the default.
OpenAI fields that change nothing here (``quality``, ``style``, ``moderation``, ``user``,
``safety_identifier``, ``background`` other than ``transparent``) are accepted and ignored; OpenAI
fields asking for what SDXL cannot give (``response_format: url``, ``background: transparent``,
``stream``, GIF/SVG output, partial images, animation) are refused, naming the field.

``n`` images are ``n`` requests to Triton with seeds ``seed, seed+1, ...``; without a ``seed`` the
activator draws the first one, and every image's seed is in the response, so any image (or the whole
set) can be made again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.settings import ApiSettings, Size
from diffusion_operator.activator.openai.tokens import truncated_by_clip
from diffusion_operator.client.request import MAX_SEED, UPSCALE_FACTORS

#: OpenAI's longest prompt (GPT image models); SDXL reads far less, but refusing earlier breaks clients.
MAX_PROMPT_CHARS = 32_000
OutputFormat = Literal["png", "jpeg", "webp"]
_FORMATS: tuple[OutputFormat, ...] = ("png", "jpeg", "webp")


class ImageBody(BaseModel):
    """The fields generations and edits share; unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    prompt: str = Field(max_length=MAX_PROMPT_CHARS)
    model: str | None = None
    n: int | None = None
    size: str | None = None
    response_format: str | None = None
    output_format: str | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: str | None = None
    # Accepted and ignored: they choose among OpenAI's own models' behaviours.
    quality: str | None = None
    moderation: str | None = None
    user: str | None = None
    safety_identifier: str | None = None
    # Refused when they ask for something (see _check_unsupported).
    stream: bool | None = None
    partial_images: int | None = None
    complexity: str | None = None
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    svg: dict[str, Any] | None = None
    # The open servers' extensions, and ours.
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    num_inference_steps: int | None = Field(default=None, ge=1)
    guidance_scale: float | None = Field(default=None, ge=0, le=30)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    upscale: int | None = None


class GenerationBody(ImageBody):
    """The JSON body as sent; strict types (``"2"`` is not a number), unknown fields refused."""

    # Accepted and ignored (DALL-E 3's vivid or natural).
    style: str | None = None


Body = TypeVar("Body", bound=ImageBody)


@dataclass(frozen=True)
class ImageJob:
    """A checked request: what goes to Triton (one request per seed) and how to answer."""

    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    seeds: tuple[int, ...]
    steps: int | None
    guidance_scale: float | None
    upscale: int | None
    output_format: OutputFormat
    output_compression: int | None
    #: CLIP reads 77 tokens: the prompt (or negative prompt) is certainly cut (``tokens``).
    prompt_truncated: bool


def _message(error: Mapping[str, Any]) -> tuple[str | None, str]:
    """(param, OpenAI-style message) for one pydantic error."""
    location = [str(part) for part in error.get("loc", ())]
    param = location[0] if location else None
    kind = error.get("type", "")
    if kind == "missing":
        return param, f"Missing required parameter: '{param}'."
    if kind == "extra_forbidden":
        return param, f"Unrecognized request argument supplied: {'.'.join(location)}"
    return param, f"Invalid value for '{'.'.join(location)}': {error.get('msg', 'invalid')}."


def parse_body(raw: object) -> GenerationBody:
    return parse_as(raw, GenerationBody)


def parse_as(raw: object, model: type[Body]) -> Body:
    """``raw`` (a JSON object, or an edit's form fields) as ``model``; the first fault is a 400 naming its field."""
    if not isinstance(raw, dict):
        raise errors.invalid(None, "The request body must be a JSON object.", code=None)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        param, message = _message(first)
        code = {"extra_forbidden": "unknown_parameter", "missing": "missing_required_parameter"}.get(
            first.get("type", ""), "invalid_value")
        raise errors.invalid(param, message, code=code) from None


def _check_unsupported(body: ImageBody) -> None:
    if body.response_format not in (None, "b64_json"):
        raise errors.invalid("response_format", (
            f"response_format {body.response_format!r} is not supported: this server keeps no images to link to "
            "(a URL would need shared, expiring storage behind every activator replica); use 'b64_json'."))
    if body.background == "transparent":
        raise errors.invalid("background", "background 'transparent' is not supported: SDXL makes opaque images.")
    if body.stream:
        raise errors.invalid("stream", "stream is not supported: each image is returned when it is complete.")
    for name in ("partial_images", "frame_count", "frame_duration_ms", "complexity", "svg"):
        value = getattr(body, name)
        if value not in (None, 0):
            raise errors.invalid(name, f"{name} is not supported by this server (SDXL makes one still image).")


def _size(body: ImageBody, settings: ApiSettings) -> Size:
    caps = settings.sizes
    if body.size in (None, "auto"):
        return caps.default
    width_text, separator, height_text = body.size.partition("x")
    if not (separator and width_text.isdigit() and height_text.isdigit()):
        raise errors.invalid("size", f"Invalid size {body.size!r}: expected WIDTHxHEIGHT such as 1024x1024, "
                                     "or 'auto'.")
    size = (int(width_text), int(height_text))
    if not caps.admits(size):
        raise errors.invalid("size", f"size {body.size} is not served by this service: sizes are {caps.describe()}.")
    return size


def _output_format(body: ImageBody) -> OutputFormat:
    wanted = body.output_format or "png"
    for name in _FORMATS:
        if wanted == name:
            return name
    raise errors.invalid("output_format", f"output_format {wanted!r} is not supported: use one of "
                                          f"{', '.join(_FORMATS)}.")


def to_job(body: ImageBody, settings: ApiSettings, draw_seed: Callable[[int], int]) -> ImageJob:
    """Check ``body`` against OpenAI's rules and this service's caps; ``draw_seed(highest)`` picks a seed
    in ``0..highest`` when the request has none (injected for tests)."""
    if body.model not in (None, settings.model_id):
        raise ApiError(404, f"The model '{body.model}' does not exist; this service serves '{settings.model_id}'.",
                       param="model", code="model_not_found")
    if not body.prompt.strip():
        raise errors.invalid("prompt", "prompt must not be empty.")
    _check_unsupported(body)
    n = 1 if body.n is None else body.n
    if not 1 <= n <= settings.max_images:
        raise errors.invalid("n", f"n must be between 1 and {settings.max_images} (this service's limit of images "
                                  f"per request); got {n}.")
    steps = body.num_inference_steps
    if steps is not None and steps > settings.max_steps:
        raise errors.invalid("num_inference_steps", f"num_inference_steps {steps} is above this service's limit "
                                                    f"of {settings.max_steps}.")
    if body.upscale is not None and body.upscale not in UPSCALE_FACTORS:
        raise errors.invalid("upscale", f"upscale must be one of {', '.join(map(str, UPSCALE_FACTORS))}; "
                                        f"got {body.upscale}.")
    width, height = _size(body, settings)
    highest_first = MAX_SEED - (n - 1)
    if body.seed is not None and body.seed > highest_first:
        raise errors.invalid("seed", f"seed must be at most {highest_first} for n={n} (the images use seed, "
                                     "seed+1, ...).")
    first = draw_seed(highest_first) if body.seed is None else body.seed
    texts = [body.prompt, *([body.negative_prompt] if body.negative_prompt else [])]
    return ImageJob(prompt=body.prompt, negative_prompt=body.negative_prompt, width=width, height=height,
                    seeds=tuple(range(first, first + n)), steps=steps, guidance_scale=body.guidance_scale,
                    upscale=body.upscale, output_format=_output_format(body),
                    output_compression=body.output_compression,
                    prompt_truncated=any(truncated_by_clip(text) for text in texts))

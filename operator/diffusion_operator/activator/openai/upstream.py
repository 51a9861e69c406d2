"""One image of a job: an ``sdxl`` (or, for an edit, ``sdxl-photoshoot``) request to Triton through the
activator's gate, answered or refused.

The KServe v2 body is the one the project's client sends (``client.triton.http_infer_body``: the
same tensors, names and types as ``diffusion generate``), and it takes the pass-through's own path
(``http_proxy.send_through_gate``): held while no Triton pod is Ready, sent again when a pod went
away. What comes back is parsed by the client's code too, ``degraded`` included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from diffusion_operator.activator.gate import Gate, HoldError
from diffusion_operator.activator.http_proxy import UnreachableError, Upstream, send_through_gate
from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.edits import EditJob
from diffusion_operator.activator.openai.requests import ImageJob
from diffusion_operator.client.errors import ServerRejectedError
from diffusion_operator.client.request import ImageRequest, PhotoshootRequest
from diffusion_operator.client.triton import (
    MODEL,
    Generated,
    Photographed,
    http_infer_body,
    http_photoshoot_body,
    parse_http_generated,
    parse_http_photographed,
)
from engine_builder.layout import PHOTOSHOOT_MODEL

_HEADER_LENGTH = "Inference-Header-Content-Length"


def image_request(job: ImageJob, seed: int) -> ImageRequest:
    """The ``sdxl`` request for one of the job's seeds; unset settings stay unset (the service's defaults)."""
    return ImageRequest(prompt=job.prompt, negative_prompt=job.negative_prompt, seed=seed, steps=job.steps,
                        width=job.width, height=job.height, guidance_scale=job.guidance_scale,
                        upscale_factor=job.upscale)


def _triton_error(payload: bytes) -> str:
    try:
        return str(json.loads(payload)["error"])
    except (ValueError, KeyError, TypeError):
        return payload[:300].decode(errors="replace")


def photoshoot_request(edit: EditJob, photo: bytes, seed: int) -> PhotoshootRequest:
    """The ``sdxl-photoshoot`` request for one of the edit's seeds (see ``edits`` for the mapping)."""
    job = edit.job
    return PhotoshootRequest(image=photo, prompt=job.prompt, negative_prompt=job.negative_prompt, seed=seed,
                             steps=job.steps, width=job.width, height=job.height, upscale_factor=job.upscale,
                             product_scale=edit.product_scale, placement=edit.placement,
                             guidance_scale=job.guidance_scale)


@dataclass(frozen=True)
class TritonImage:
    generated: Generated
    #: Seconds this image waited at the gate (held while no Triton pod was Ready).
    held_s: float


@dataclass(frozen=True)
class TritonPhoto:
    """One edited image: the pipeline's PNG (and its product mask), its seed, its wait at the gate."""

    photographed: Photographed
    held_s: float


@dataclass
class TritonImages:
    gate: Gate
    session: aiohttp.ClientSession
    #: Triton's HTTP address, e.g. ``http://10.0.0.7:8000``.
    backend_url: str
    on_unreachable: Callable[[], None]
    clock: Callable[[], float]

    async def generate(self, job: ImageJob, seed: int) -> TritonImage:
        started = self.clock()
        answer = await self._infer(MODEL, *http_infer_body(image_request(job, seed)))
        try:
            generated = parse_http_generated(answer.body, _header_length(answer), self.clock() - started)
        except ServerRejectedError as error:
            raise errors.upstream(500, str(error)) from None
        return TritonImage(generated, answer.held_s)

    async def photoshoot(self, edit: EditJob, photo: bytes, seed: int) -> TritonPhoto:
        """One image of an edit: ``photo`` (``photos.photo_for_pipeline``) through ``sdxl-photoshoot``."""
        started = self.clock()
        answer = await self._infer(PHOTOSHOOT_MODEL, *http_photoshoot_body(photoshoot_request(edit, photo, seed)))
        try:
            photographed = parse_http_photographed(answer.body, _header_length(answer), self.clock() - started)
        except ServerRejectedError as error:
            raise errors.upstream(500, str(error)) from None
        return TritonPhoto(photographed, answer.held_s)

    async def _infer(self, model: str, body: bytes, header_length: int | None) -> Upstream:
        """POST one KServe v2 request through the gate; Triton's refusal or the gate's becomes an ``ApiError``.

        Cancelled (the client went away: the server runs with ``handler_cancellation``), the request
        leaves the gate's queue if it was held, or its connection to Triton is closed, which Triton's
        HTTP frontend takes as the request's cancellation.
        """
        # identity: the activator's session does not decompress (the pass-through forwards bytes), and
        # compressing an image inside the cluster only costs both ends CPU.
        headers = {"Content-Type": "application/octet-stream", "Accept-Encoding": "identity"}
        if header_length is not None:
            headers[_HEADER_LENGTH] = str(header_length)
        try:
            answer = await send_through_gate(self.gate, self.session, "POST",
                                             f"{self.backend_url}/v2/models/{model}/infer", headers, body,
                                             self.on_unreachable)
        except HoldError as error:
            raise errors.from_hold(error) from None
        except UnreachableError as error:
            raise errors.ApiError(503, str(error), type_=errors.SERVER_ERROR, code="service_unavailable",
                                  retry_after_s=1) from None
        if answer.status != 200:
            raise errors.upstream(answer.status, _triton_error(answer.body))
        return answer


def _header_length(answer: Upstream) -> int | None:
    length = answer.headers.get(_HEADER_LENGTH)
    return int(length) if length else None

"""One image of a job: an ``sdxl`` request to Triton through the activator's gate, answered or refused.

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
from diffusion_operator.activator.http_proxy import UnreachableError, send_through_gate
from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.requests import ImageJob
from diffusion_operator.client.errors import ServerRejectedError
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import MODEL, Generated, http_infer_body, parse_http_generated

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


@dataclass(frozen=True)
class TritonImage:
    generated: Generated
    #: Seconds this image waited at the gate (held while no Triton pod was Ready).
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
        body, header_length = http_infer_body(image_request(job, seed))
        # identity: the activator's session does not decompress (the pass-through forwards bytes), and
        # compressing an image inside the cluster only costs both ends CPU.
        headers = {"Content-Type": "application/octet-stream", "Accept-Encoding": "identity"}
        if header_length is not None:
            headers[_HEADER_LENGTH] = str(header_length)
        started = self.clock()
        try:
            answer = await send_through_gate(self.gate, self.session, "POST",
                                             f"{self.backend_url}/v2/models/{MODEL}/infer", headers, body,
                                             self.on_unreachable)
        except HoldError as error:
            raise errors.from_hold(error) from None
        except UnreachableError as error:
            raise errors.ApiError(503, str(error), type_=errors.SERVER_ERROR, code="service_unavailable",
                                  retry_after_s=1) from None
        if answer.status != 200:
            raise errors.upstream(answer.status, _triton_error(answer.body))
        length = answer.headers.get(_HEADER_LENGTH)
        try:
            generated = parse_http_generated(answer.body, int(length) if length else None, self.clock() - started)
        except ServerRejectedError as error:
            raise errors.upstream(500, str(error)) from None
        return TritonImage(generated, answer.held_s)

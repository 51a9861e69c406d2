"""One image of a job: an ``sdxl`` (or, for an edit, ``sdxl-photoshoot``) request to Triton through the
activator's gate, answered or refused.

The KServe v2 request is the one the project's client sends (``client.triton.grpc_infer_request``:
the same tensors, names and types as ``diffusion generate``), over gRPC on the pass-through's own
path (``grpc_proxy.call_through_gate``): held while no Triton pod is Ready, sent again when a pod went
away. gRPC, not HTTP, because a cancelled RPC is the one way Triton learns that nobody waits for a
request (its HTTP frontend ignores a closed connection): a client that hangs up cancels its handler,
that cancels the RPC, and the pipeline model stops at its next denoising step. What comes back is
parsed by the client's code too, ``degraded`` included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
import grpc.aio

from diffusion_operator.activator.channels import ChannelPool
from diffusion_operator.activator.gate import Gate, HoldError
from diffusion_operator.activator.grpc_proxy import MODEL_INFER, call_through_gate
from diffusion_operator.activator.http_proxy import UnreachableError
from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.edits import EditJob
from diffusion_operator.activator.openai.requests import ImageJob
from diffusion_operator.client.errors import ServerRejectedError
from diffusion_operator.client.request import ImageRequest, PhotoshootRequest
from diffusion_operator.client.triton import (
    Generated,
    Photographed,
    grpc_infer_request,
    grpc_photoshoot_request,
    parse_grpc_generated,
    parse_grpc_photographed,
)

#: gRPC codes that are the request's fault: Triton's own validation (a pipeline model's refusal is
#: INTERNAL with ``invalid request: `` first, which ``errors.upstream`` recognises).
_CLIENT_FAULTS = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                            grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.FAILED_PRECONDITION})


def image_request(job: ImageJob, seed: int) -> ImageRequest:
    """The ``sdxl`` request for one of the job's seeds; unset settings stay unset (the service's defaults)."""
    return ImageRequest(prompt=job.prompt, negative_prompt=job.negative_prompt, seed=seed, steps=job.steps,
                        width=job.width, height=job.height, guidance_scale=job.guidance_scale,
                        upscale_factor=job.upscale)


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
    #: The activator's channels to Triton's gRPC port (the pass-through's).
    channel: ChannelPool
    on_unreachable: Callable[[], None]
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._call = self.channel.unary_unary(MODEL_INFER)

    async def generate(self, job: ImageJob, seed: int) -> TritonImage:
        started = self.clock()
        response, held_s = await self._infer(grpc_infer_request(image_request(job, seed)))
        try:
            generated = parse_grpc_generated(response, self.clock() - started)
        except ServerRejectedError as error:
            raise errors.upstream(500, str(error)) from None
        return TritonImage(generated, held_s)

    async def photoshoot(self, edit: EditJob, photo: bytes, seed: int) -> TritonPhoto:
        """One image of an edit: ``photo`` (``photos.photo_for_pipeline``) through ``sdxl-photoshoot``."""
        started = self.clock()
        response, held_s = await self._infer(grpc_photoshoot_request(photoshoot_request(edit, photo, seed)))
        try:
            photographed = parse_grpc_photographed(response, self.clock() - started)
        except ServerRejectedError as error:
            raise errors.upstream(500, str(error)) from None
        return TritonPhoto(photographed, held_s)

    async def _infer(self, request: bytes) -> tuple[bytes, float]:
        """One ``ModelInfer`` through the gate; Triton's refusal or the gate's becomes an ``ApiError``.

        Cancelled (the client went away: the server runs with ``handler_cancellation``), the request
        leaves the gate's queue if it was held, or its RPC is cancelled and Triton cancels it.
        """
        try:
            return await call_through_gate(self.gate, self._call, request, self.on_unreachable)
        except HoldError as error:
            raise errors.from_hold(error) from None
        except UnreachableError as error:
            raise errors.ApiError(503, str(error), type_=errors.SERVER_ERROR, code="service_unavailable",
                                  retry_after_s=1) from None
        except grpc.aio.AioRpcError as error:
            status = 400 if error.code() in _CLIENT_FAULTS else 500
            raise errors.upstream(status, error.details() or error.code().name) from None

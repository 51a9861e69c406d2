"""The API's aiohttp routes: ``POST /v1/images/generations`` and ``/v1/images/edits``, ``GET /v1/models``,
and clear refusals elsewhere.

Every route runs the same steps in the same order: authenticate (401 before the body is even read,
so a caller without a key reaches no GPU and costs a few microseconds), read the body within a size
and a time limit (413, 408), check it against OpenAI's rules and the caps (400 naming the field,
404 for another model), take the key's limits (429 with Retry-After; only a request that would be
served spends them), then generate. A generation of ``n`` images sends ``n`` requests at once (seeds
``seed, seed+1, ...``): they share the service's batches; the first failure cancels the rest and
answers. Anything unexpected is logged and answered 500 in OpenAI's shape, never a traceback.

An edit (``edits``) is refused 404 before its body is read where the service has no photoshoot
pipeline; otherwise it reserves its size in the replica's ``UploadBudget`` (429 when full), reads its
form part by part under the caps (``multipart``), checks the fields, then the uploads (``photos``, in
a thread, one photo at a time), and sends ``n`` photoshoot requests like a generation.

A client that goes away mid-request cancels it (the server runs aiohttp with
``handler_cancellation``): whatever it awaited (its body, the gate, Triton) is cancelled, its key's
lease and its upload bytes are released in ``finally`` blocks, and the metrics count it as 499.

The response is OpenAI's (``created``, ``data[].b64_json``, ``output_format``, ``size``) plus, per
image, the ``seed`` used and, for generations, ``degraded`` (the speed tier served fewer steps, as
Triton reports) and, per response, ``prompt_truncated`` (also the ``X-Prompt-Truncated`` header;
see ``tokens``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from diffusion_operator.activator.keys import KeyStore, bearer_token
from diffusion_operator.activator.metrics import ApiMetrics
from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.edits import to_edit_job
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.images import encode
from diffusion_operator.activator.openai.limits import KeyLimiter, UploadBudget
from diffusion_operator.activator.openai.multipart import declared_size, read_form
from diffusion_operator.activator.openai.photos import decoded_rgb, image_size, photo_for_pipeline
from diffusion_operator.activator.openai.requests import ImageJob, parse_body, to_job
from diffusion_operator.activator.openai.settings import ApiSettings
from diffusion_operator.activator.openai.upstream import TritonImage, TritonImages, TritonPhoto

log = logging.getLogger(__name__)

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
MODELS = "/v1/models"
OWNER = "diffusion-operator"
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    response: web.Response
    images: int = 0
    held_s: float = 0.0


Handler = Callable[[web.Request, str], Awaitable[Outcome]]
Route = Callable[[web.Request], Awaitable[web.Response]]


@dataclass
class OpenAIApi:
    settings: ApiSettings
    keys: KeyStore
    limiter: KeyLimiter
    images: TritonImages
    metrics: ApiMetrics | None = None
    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    draw_seed: Callable[[int], int] = field(default=lambda highest: secrets.randbelow(highest + 1))
    started: int = field(default_factory=lambda: int(time.time()))
    uploads: UploadBudget = field(init=False)
    #: One photo decoded at a time: it bounds the memory and the CPU that edits take from the activator.
    _decoding: asyncio.Semaphore = field(init=False, default_factory=lambda: asyncio.Semaphore(1))

    def __post_init__(self) -> None:
        self.uploads = UploadBudget(self.settings.uploads_in_flight_bytes)

    def add_routes(self, app: web.Application) -> None:
        """Ahead of the KServe pass-through's catch-all, which then never sees ``/v1``."""
        app.router.add_route("*", GENERATIONS, self._route(GENERATIONS, "POST", self._generations))
        app.router.add_route("*", MODELS, self._route(MODELS, "GET", self._models))
        app.router.add_route("*", MODELS + "/{model}", self._route(MODELS, "GET", self._model))
        app.router.add_route("*", EDITS, self._route(EDITS, "POST", self._edits))
        app.router.add_route("*", "/v1/{tail:.*}", self._route("other", None, self._unknown))

    def _route(self, route: str, method: str | None, handle: Handler) -> Route:
        async def serve(request: web.Request) -> web.Response:
            started = self.monotonic()
            key = None
            try:
                authorization = request.headers.get("Authorization")
                key = self.keys.authenticate(authorization)
                if key is None:
                    raise errors.unauthorized(presented=bearer_token(authorization) is not None)
                if method is not None and request.method != method:
                    raise errors.not_found(f"Invalid URL ({request.method} {request.path}): use {method}.",
                                           code="method_not_allowed")
                outcome = await handle(request, key)
            except ApiError as error:
                headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
                outcome = Outcome(errors.error_response(error, headers))
            except (asyncio.CancelledError, ConnectionResetError):  # the client went away (its handler was
                # cancelled, or its body was cut off): nothing to answer, but the request ended and is counted
                log.info("%s %s (key %s): the client went away; its request was cancelled", request.method,
                         request.path, key)
                if self.metrics is not None:
                    self.metrics.observe(route, key, errors.CLIENT_CLOSED, self.monotonic() - started)
                raise
            except Exception:  # a bug: logged here, answered in OpenAI's shape without its details
                log.exception("%s %s (key %s) failed", request.method, request.path, key)
                outcome = Outcome(errors.error_response(ApiError(
                    500, "The server had an error while processing your request.", type_=errors.SERVER_ERROR)))
            if self.metrics is not None:
                self.metrics.observe(route, key, outcome.response.status, self.monotonic() - started,
                                     images=outcome.images, held_s=outcome.held_s)
            return outcome.response

        return serve

    async def _generations(self, request: web.Request, key: str) -> Outcome:
        job = to_job(parse_body(await self._read_json(request)), self.settings, self.draw_seed)
        lease = self.limiter.admit(key)
        try:
            images = await _all([self.images.generate(job, seed) for seed in job.seeds])
        finally:
            lease.release()
        return Outcome(await self._respond_generated(job, images), images=len(images),
                       held_s=max(image.held_s for image in images))

    async def _edits(self, request: web.Request, key: str) -> Outcome:
        s = self.settings
        if not s.edits:
            raise errors.ApiError(404, f"The model '{s.model_id}' does not support POST /v1/images/edits: edits run "
                                       "the photoshoot pipeline, which is not in this service's spec.pipelines. Use "
                                       "POST /v1/images/generations.", param="model", code="unsupported_endpoint")
        reservation = self.uploads.reserve(declared_size(request, s.max_upload_bytes, s.max_fields_bytes))
        try:
            form = await _within(s.upload_timeout_s, read_form(request, s.max_upload_bytes, s.max_fields_bytes))
            edit = to_edit_job(form, s, self.draw_seed)
            async with self._decoding:
                photo = await asyncio.to_thread(photo_for_pipeline, edit.image, edit.mask, s.max_upload_pixels,
                                                s.max_upload_bytes)
            reservation.grow(len(photo) * len(edit.job.seeds), "n")
            lease = self.limiter.admit(key)
            try:
                photos = await _all([self.images.photoshoot(edit, photo, seed) for seed in edit.job.seeds])
            finally:
                lease.release()
        finally:
            reservation.release()
        return Outcome(await self._respond_edited(edit.job, photos), images=len(photos),
                       held_s=max(photo.held_s for photo in photos))

    async def _respond_generated(self, job: ImageJob, images: list[TritonImage]) -> web.Response:
        now = self.wall_clock()

        def body() -> bytes:
            height, width = images[0].generated.image.shape[:2]
            return _response_body(job, (width, height), [
                {"b64_json": _b64(encode(image.generated.image, job.output_format, job.output_compression)),
                 "seed": image.generated.seed, "degraded": image.generated.degraded} for image in images], now)

        return _response(job, await _off_loop_if_large(body, images[0].generated.image.size))

    async def _respond_edited(self, job: ImageJob, photos: list[TritonPhoto]) -> web.Response:
        """The pipeline's PNGs as they are for ``png`` (no second encoding), re-encoded otherwise."""
        now = self.wall_clock()

        def body() -> bytes:
            encoded = [_b64(png if job.output_format == "png" else
                            encode(decoded_rgb(png), job.output_format, job.output_compression))
                       for png in (photo.photographed.image_png for photo in photos)]
            size = image_size(photos[0].photographed.image_png)
            return _response_body(job, size, [{"b64_json": data, "seed": photo.photographed.seed}
                                              for data, photo in zip(encoded, photos, strict=True)], now)

        return _response(job, await _off_loop_if_large(body, sum(len(p.photographed.image_png) for p in photos)))

    def _model_object(self) -> dict[str, Any]:
        return {"id": self.settings.model_id, "object": "model", "created": self.started, "owned_by": OWNER}

    async def _models(self, _: web.Request, __: str) -> Outcome:
        return Outcome(web.json_response({"object": "list", "data": [self._model_object()]}))

    async def _model(self, request: web.Request, _: str) -> Outcome:
        if request.match_info["model"] != self.settings.model_id:
            raise errors.not_found(f"The model '{request.match_info['model']}' does not exist.",
                                   code="model_not_found")
        return Outcome(web.json_response(self._model_object()))

    async def _unknown(self, request: web.Request, _: str) -> Outcome:
        raise errors.not_found(f"Invalid URL ({request.method} {request.path}).")

    async def _read_json(self, request: web.Request) -> object:
        limit = self.settings.max_fields_bytes
        if request.content_length is not None and request.content_length > limit:
            raise errors.too_large(limit)
        raw = await _within(self.settings.body_timeout_s, _read_limited(request, limit))
        try:
            return json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            raise errors.invalid(None, "We could not parse the JSON body of your request. The body must be a "
                                       "JSON object (Content-Type: application/json).", code=None) from None


async def _within(seconds: float, reading: Coroutine[Any, Any, T]) -> T:
    """``reading`` (a request's body), or 408 once ``seconds`` have passed: a deadline for the whole body,
    so a client trickling bytes holds its connection no longer than one that sends nothing."""
    try:
        return await asyncio.wait_for(reading, timeout=seconds)
    except TimeoutError:
        raise errors.body_timeout(seconds) from None


async def _read_limited(request: web.Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise errors.too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _all(calls: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Every image of a request at once; the first refusal answers and cancels the others."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except* ApiError as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


#: Below this many bytes of image, encoding on the event loop costs less than a thread hand-off:
#: measured with bench/openai_overhead.py at 64x64 (12 KB), the thread added ~1 ms per request on
#: 2 cores, while a 1024x1024 image (3 MB) takes ~200 ms to encode and must leave the loop.
INLINE_ENCODE_BYTES = 64 * 64 * 3 * 4


async def _off_loop_if_large(build: Callable[[], bytes], image_bytes: int) -> bytes:
    return build() if image_bytes <= INLINE_ENCODE_BYTES else await asyncio.to_thread(build)


def _response_body(job: ImageJob, size: tuple[int, int], data: list[dict[str, Any]], now: float) -> bytes:
    """The JSON body, built in the encoding thread: ``json.dumps`` over a 1024² image's 3 MB of base64
    took about 15 ms, and on the event loop it stalled every other request for that long."""
    body = {"created": int(now), "data": data, "output_format": job.output_format, "size": f"{size[0]}x{size[1]}",
            "prompt_truncated": job.prompt_truncated}
    return json.dumps(body).encode()


def _response(job: ImageJob, body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json",
                        headers={"X-Prompt-Truncated": str(job.prompt_truncated).lower()})

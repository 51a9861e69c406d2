"""The API's aiohttp routes: ``POST /v1/images/generations``, ``GET /v1/models``, and clear refusals elsewhere.

Every route runs the same steps in the same order: authenticate (401 before the body is even read,
so a caller without a key reaches no GPU and costs a few microseconds), read the body within a size
and a time limit (413, 408), check it against OpenAI's rules and the caps (400 naming the field,
404 for another model), take the key's limits (429 with Retry-After; only a request that would be
served spends them), then generate. A generation of ``n`` images sends ``n`` requests at once (seeds
``seed, seed+1, ...``): they share the service's batches; the first failure cancels the rest and
answers. Anything unexpected is logged and answered 500 in OpenAI's shape, never a traceback.

The response is OpenAI's (``created``, ``data[].b64_json``, ``output_format``, ``size``) plus, per
image, the ``seed`` used and ``degraded`` (the speed tier served fewer steps, as Triton reports) and,
per response, ``prompt_truncated`` (also the ``X-Prompt-Truncated`` header; see ``tokens``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from diffusion_operator.activator.keys import KeyStore, bearer_token
from diffusion_operator.activator.metrics import ApiMetrics
from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.images import encode
from diffusion_operator.activator.openai.limits import KeyLimiter
from diffusion_operator.activator.openai.requests import ImageJob, parse_body, to_job
from diffusion_operator.activator.openai.settings import ApiSettings
from diffusion_operator.activator.openai.upstream import TritonImage, TritonImages

log = logging.getLogger(__name__)

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
MODELS = "/v1/models"
#: A generation request is a prompt and a few numbers; 1 MiB is room for the longest prompt many times.
MAX_JSON_BYTES = 1024 * 1024
#: A client that has not sent its whole body by then is answered 408: nothing waits on it for longer.
BODY_TIMEOUT_S = 30.0
OWNER = "diffusion-operator"


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
    body_timeout_s: float = BODY_TIMEOUT_S
    started: int = field(default_factory=lambda: int(time.time()))

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
            images = await self._generate_all(job)
        finally:
            lease.release()
        return Outcome(await self._respond(job, images), images=len(images),
                       held_s=max(image.held_s for image in images))

    async def _generate_all(self, job: ImageJob) -> list[TritonImage]:
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.images.generate(job, seed)) for seed in job.seeds]
        except* ApiError as failed:  # the first refusal answers; the other images were cancelled
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    async def _respond(self, job: ImageJob, images: list[TritonImage]) -> web.Response:
        def encode_all() -> list[str]:
            return [base64.b64encode(encode(image.generated.image, job.output_format, job.output_compression))
                    .decode("ascii") for image in images]

        encoded = await asyncio.to_thread(encode_all)
        height, width = images[0].generated.image.shape[:2]
        body: dict[str, Any] = {
            "created": int(self.wall_clock()),
            "data": [{"b64_json": data, "seed": image.generated.seed, "degraded": image.generated.degraded}
                     for data, image in zip(encoded, images, strict=True)],
            "output_format": job.output_format,
            "size": f"{width}x{height}",
            "prompt_truncated": job.prompt_truncated,
        }
        return web.json_response(body, headers={"X-Prompt-Truncated": str(job.prompt_truncated).lower()})

    def _model_object(self) -> dict[str, Any]:
        return {"id": self.settings.model_id, "object": "model", "created": self.started, "owned_by": OWNER}

    async def _models(self, _: web.Request, __: str) -> Outcome:
        return Outcome(web.json_response({"object": "list", "data": [self._model_object()]}))

    async def _model(self, request: web.Request, _: str) -> Outcome:
        if request.match_info["model"] != self.settings.model_id:
            raise errors.not_found(f"The model '{request.match_info['model']}' does not exist.",
                                   code="model_not_found")
        return Outcome(web.json_response(self._model_object()))

    async def _edits(self, _: web.Request, __: str) -> Outcome:
        raise errors.not_found("POST /v1/images/edits is not served by this service yet; "
                               "use POST /v1/images/generations.", code="unsupported_endpoint")

    async def _unknown(self, request: web.Request, _: str) -> Outcome:
        raise errors.not_found(f"Invalid URL ({request.method} {request.path}).")

    async def _read_json(self, request: web.Request) -> object:
        if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
            raise errors.too_large(MAX_JSON_BYTES)
        try:
            raw = await asyncio.wait_for(_read_limited(request, MAX_JSON_BYTES), timeout=self.body_timeout_s)
        except TimeoutError:
            raise errors.body_timeout(self.body_timeout_s) from None
        try:
            return json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            raise errors.invalid(None, "We could not parse the JSON body of your request. The body must be a "
                                       "JSON object (Content-Type: application/json).", code=None) from None


async def _read_limited(request: web.Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise errors.too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)

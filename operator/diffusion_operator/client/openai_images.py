"""The OpenAI images API edge: ``POST /v1/images/generations`` of a service with ``spec.api``, over plain HTTP.

Why ``http.client`` and not the pinned ``openai`` package: ``openai`` is a test dependency (the
reference client the integration tests hold the API to), not one of the CLI's, and the ``diffusion``
CLI ships in the operator image, which should not grow a second HTTP stack for one POST. A load test
wants exactly one request per sample and every answer as it came: ``openai`` retries 429 and 5xx
itself by default, which would hide the refusals and stretch the latencies being measured. One
keep-alive connection per client, one per load-test worker thread, as ``TritonClient`` does.

The request is the one ``docs/openai-api.md`` documents (``seed``, ``num_inference_steps``,
``guidance_scale``, ``negative_prompt`` and ``upscale`` as extensions); unset settings stay out so
the service's defaults apply. Every failure becomes a typed ``ClientError``: no answer (refused, DNS,
timeout) is "unreachable" (exit 3), as is a 503 that says the service is starting or gone; any other
error answer is "rejected" (exit 5) with OpenAI's error message and code. The key goes only into the
``Authorization`` header, never into a message.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from diffusion_operator.client.errors import EndpointUnreachableError, ServerRejectedError, UsageError
from diffusion_operator.client.request import ImageRequest

GENERATIONS = "/v1/images/generations"
MODELS = "/v1/models"
#: 503 codes that mean "no Triton to serve it now" (docs/openai-api.md): unreachable, not a verdict.
UNAVAILABLE_CODES = frozenset({"still_starting", "service_unavailable", "cannot_start"})
#: Errors of a kept-alive connection the server closed while it idled: sent again once on a new one.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class ApiImage:
    """One image as the API answered it: the encoded file (PNG unless asked otherwise) and its seed."""

    data: bytes
    seed: int
    seconds: float
    degraded: bool = False


def generations_body(request: ImageRequest, *, output_format: str = "png") -> dict[str, Any]:
    """The JSON body of one image (``n`` = 1: a load test's sample is one request, as with KServe)."""
    if request.scheduler is not None:
        raise UsageError("scheduler: not a field of the OpenAI images API (the service's default applies)")
    body: dict[str, Any] = {"prompt": request.prompt, "n": 1, "response_format": "b64_json",
                            "output_format": output_format}
    if request.width is not None and request.height is not None:
        body["size"] = f"{request.width}x{request.height}"
    for field, value in (("negative_prompt", request.negative_prompt), ("seed", request.seed),
                         ("num_inference_steps", request.steps), ("guidance_scale", request.guidance_scale),
                         ("upscale", request.upscale_factor)):
        if value is not None:
            body[field] = value
    return body


def error_of(status: int, payload: bytes, where: str) -> EndpointUnreachableError | ServerRejectedError:
    """The typed error of a non-200 answer, with OpenAI's message and code when the body has them."""
    try:
        error = json.loads(payload)["error"]
        message, code = str(error.get("message", "")), error.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        message, code = payload[:300].decode(errors="replace").strip(), None
    detail = f"{status}{f' {code}' if code else ''}: {message}" if message else str(status)
    if status == 401:
        return ServerRejectedError(f"the API at {where} refused the key ({detail}); "
                                   "pass --api-key or set DIFFUSION_API_KEY")
    if status == 503 and (code in UNAVAILABLE_CODES or code is None):
        return EndpointUnreachableError(f"the API at {where} cannot serve now ({detail})")
    return ServerRejectedError(f"the API at {where} refused the request ({detail})")


def parse_generations(payload: bytes) -> tuple[bytes, int, bool]:
    """The first image of a 200 answer: its bytes, its seed and whether the speed tier degraded it."""
    try:
        item = json.loads(payload)["data"][0]
        return base64.b64decode(item["b64_json"], validate=True), int(item["seed"]), bool(item.get("degraded"))
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ServerRejectedError(f"unreadable answer from the API: {type(err).__name__}: {err}") from err


class OpenAIImagesClient:
    """One connection to one API address (``host:port``); not thread-safe (one per load-test worker)."""

    def __init__(self, address: str, api_key: str | None = None, timeout_s: float = 300.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._connection: http.client.HTTPConnection | None = None
        self._used = False

    def check_ready(self) -> None:
        """``GET /v1/models``: the API answers and takes the key (a wrong key fails here, before any load)."""
        status, payload = self._send("GET", MODELS, None)
        if status != 200:
            raise error_of(status, payload, self.address)

    def generate(self, request: ImageRequest, *, output_format: str = "png") -> ApiImage:
        body = json.dumps(generations_body(request, output_format=output_format)).encode()
        started = time.monotonic()
        status, payload = self._send("POST", GENERATIONS, body)
        if status != 200:
            raise error_of(status, payload, self.address)
        data, seed, degraded = parse_generations(payload)
        return ApiImage(data=data, seed=seed, seconds=time.monotonic() - started, degraded=degraded)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            connection = self._connect()
            reused = self._used
            try:
                connection.request(method, path, body=body, headers=self._headers)
                response = connection.getresponse()
                payload = response.read()
            except _STALE as err:
                self.close()
                if reused and attempt == 1:
                    continue
                raise EndpointUnreachableError(f"lost the API at {self.address}: {type(err).__name__}") from err
            except (OSError, http.client.HTTPException) as err:  # refused, DNS, timeout, garbage
                self.close()
                text = "timed out" if isinstance(err, TimeoutError) else f"{type(err).__name__}: {err}"
                raise EndpointUnreachableError(f"no API answers at {self.address}: {text}") from err
            self._used = True
            if response.will_close:
                self.close()
            return response.status, payload
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.address, timeout=self.timeout_s)
            self._used = False
        return self._connection

"""OpenAI's error object, ``{"error": {"message", "type", "param", "code"}}``, with the status that goes with it.

Every failure of the API becomes an ``ApiError`` at the point that knows why, and ``error_response``
is the only place that writes one: no traceback, no key, the field at fault in ``param``. The types
and codes are OpenAI's where it has one (``invalid_request_error``, ``invalid_api_key``,
``model_not_found``, ``rate_limit_exceeded``, ``server_error``), ours where it has none (``queue_full``,
``cannot_start``). ``Retry-After`` goes with every 429 and with the 503s a retry can cure; the
official client honours it.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from diffusion_operator.activator.gate import CannotStartError, HoldError, HoldTimeoutError, QueueFullError

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
#: What the metrics record for a request whose client went away before its answer (nginx's code):
#: no response is sent, but the request ended and is counted.
CLIENT_CLOSED = 499
#: How the photoshoot's Triton models start a refusal that is the request's fault.
_PIPELINE_PREFIX = "invalid request: "


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = INVALID_REQUEST, param: str | None = None,
                 code: str | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid(param: str | None, message: str, code: str | None = "invalid_value") -> ApiError:
    """400: the request is wrong, and ``param`` says where."""
    return ApiError(400, message, param=param, code=code)


def unauthorized(presented: bool) -> ApiError:
    message = ("Incorrect API key provided. Keys are issued by this service's operators (the Secret named in "
               "spec.api.auth.secretRef)." if presented else
               "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
    return ApiError(401, message, code="invalid_api_key")


def not_found(message: str, code: str = "unknown_url") -> ApiError:
    return ApiError(404, message, code=code)


def too_large(limit_bytes: int, param: str | None = None) -> ApiError:
    """413: the body (``param`` None) or one uploaded file (``param`` its field) is over its cap."""
    what = "The request body" if param is None else f"The file '{param}'"
    return ApiError(413, f"{what} is larger than {limit_bytes} bytes ({limit_bytes / 2**20:.0f} MiB).",
                    param=param, code="request_too_large")


def body_timeout(seconds: float) -> ApiError:
    return ApiError(408, f"The request body did not arrive within {seconds:.0f}s.", code="request_timeout")


def rate_limited(message: str, retry_after_s: float, code: str = "rate_limit_exceeded") -> ApiError:
    return ApiError(429, message, type_="requests", code=code, retry_after_s=retry_after_s)


def from_hold(error: HoldError) -> ApiError:
    """The gate's refusals, as the API states them: a full queue is a 429, anything else while the
    service starts a 503 (retryable unless its pods cannot start)."""
    if isinstance(error, QueueFullError):
        return ApiError(429, str(error), type_=SERVER_ERROR, code="queue_full", retry_after_s=1)
    if isinstance(error, CannotStartError):
        return ApiError(503, str(error), type_=SERVER_ERROR, code="cannot_start")
    code = "still_starting" if isinstance(error, HoldTimeoutError) else "service_unavailable"
    return ApiError(503, str(error), type_=SERVER_ERROR, code=code, retry_after_s=1)


def upstream(status: int, message: str) -> ApiError:
    """Triton's own refusal: its 4xx is the request's fault (400), its 5xx the service's (500).

    The pipeline models (Python backend) answer every error as a 500 (their ``TritonError`` carries
    no code), but start the ones that are the request's fault with ``invalid request: `` (the
    serving models' ``REQUEST_PREFIX``): those are a 400 too. They name the input at fault next
    (``invalid request: image: no foreground found``); an ``image`` fault is the upload's, so
    ``param`` says so."""
    if 400 <= status < 500 or message.startswith(_PIPELINE_PREFIX):
        param = "image" if message.removeprefix(_PIPELINE_PREFIX).startswith("image:") else None
        return invalid(param, f"The model refused the request: {message}", code="invalid_value")
    return ApiError(500, f"The model failed: {message}", type_=SERVER_ERROR, code="model_error")


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    extra = dict(headers or {})
    if error.retry_after_s is not None:
        extra["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    return web.json_response(error.body(), status=error.status, headers=extra)

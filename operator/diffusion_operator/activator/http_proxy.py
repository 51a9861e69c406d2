"""KServe v2 over HTTP: every path is passed through to Triton's HTTP port as bytes.

The body is read only after the gate admits the request, so a flood beyond the queue limit is
answered 429 without buffering its bodies. Responses are returned whole (KServe responses are one
JSON or binary-tensor document); hop-by-hop headers are dropped both ways, everything else (the
``Inference-Header-Content-Length`` of binary tensors included) passes unchanged.

A forward that did not reach Triton (connection refused or reset before a response: the last pod
went away, or a keep-alive connection to a terminating pod) closes the gate and is held again: an
inference request is safe to send twice, a lost one is not what a client expects from a Ready
service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from diffusion_operator.activator import messages
from diffusion_operator.activator.gate import Gate, HoldError

log = logging.getLogger(__name__)

#: RFC 9110 hop-by-hop headers, the ones aiohttp sets itself, and the client's API key (it stops here).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade", "host", "content-length", "authorization"})
#: Tries to reach Triton for one request; each retry waits at the gate again.
ATTEMPTS = 4
#: KServe bodies are small prompts, or images for inpainting; beyond this a request is refused (413).
MAX_BODY_BYTES = 32 * 1024 * 1024


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in dict(headers).items() if key.lower() not in _HOP_BY_HOP}


def error_response(error: HoldError) -> web.Response:
    headers = {"Retry-After": "1"} if error.retryable else {}
    return web.json_response({"error": str(error)}, status=error.status, headers=headers)


@dataclass(frozen=True)
class Upstream:
    """Triton's answer to a forwarded request, and how long it waited at the gate first."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    held_s: float


class UnreachableError(Exception):
    """Every attempt failed to reach Triton."""


async def send_through_gate(gate: Gate, session: aiohttp.ClientSession, method: str, url: str,
                            headers: Mapping[str, str], body: bytes | Callable[[], Awaitable[bytes]],
                            on_unreachable: Callable[[], None]) -> Upstream:
    """Wait at the gate, send, and hold again when Triton could not be reached (``ATTEMPTS`` times).

    ``body`` may be a coroutine factory: the KServe pass-through reads a client's body only once the
    gate admits it. Raises ``HoldError`` (the gate refused) or ``UnreachableError``.
    """
    loop = asyncio.get_running_loop()
    held_s = 0.0
    data = body if isinstance(body, bytes) else None
    for attempt in range(ATTEMPTS):
        arrived = loop.time()
        try:
            await gate.enter()
        finally:
            held_s += loop.time() - arrived
        if data is None:
            assert not isinstance(body, bytes)
            data = await body()
        try:
            async with session.request(method, url, headers=dict(headers), data=data) as upstream:
                payload = await upstream.read()
                return Upstream(upstream.status, upstream.headers, payload, held_s)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            log.info("forward %d did not reach Triton (%s); holding again", attempt + 1, error)
            gate.close()
            on_unreachable()
        except aiohttp.ClientError as error:  # the pod went away mid-answer (payload cut short)
            log.warning("forward %d lost its answer (%s: %s); sending again", attempt + 1,
                        type(error).__name__, error)
            on_unreachable()
    raise UnreachableError(messages.upstream_failed(gate.service, "Triton unreachable"))


Authenticate = Callable[[str | None], str | None]


def build_app(gate: Gate, session: aiohttp.ClientSession, backend_url: str,
              on_unreachable: Callable[[], None], *, authenticate: Authenticate | None = None,
              add_routes: Callable[[web.Application], None] | None = None) -> web.Application:
    """The pass-through app; ``on_unreachable`` is told when a forward could not reach Triton.

    With the API on (``spec.api``), ``add_routes`` adds its routes ahead of the pass-through and
    ``authenticate`` (an ``Authorization`` header -> the key's name, or None) guards the
    pass-through too: a KServe request without a valid key gets 401 and reaches no GPU either.
    """

    async def forward(request: web.Request) -> web.StreamResponse:
        if authenticate is not None and authenticate(request.headers.get("Authorization")) is None:
            return web.json_response({"error": messages.unauthorized(gate.service)}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        try:
            upstream = await send_through_gate(gate, session, request.method, backend_url + request.path_qs,
                                               forwarded_headers(request.headers), request.read, on_unreachable)
        except HoldError as error:
            return error_response(error)
        except UnreachableError as error:
            return web.json_response({"error": str(error)}, status=503, headers={"Retry-After": "1"})
        return web.Response(status=upstream.status, body=upstream.body, headers=forwarded_headers(upstream.headers))

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    if add_routes is not None:
        add_routes(app)
    app.router.add_route("*", "/{path:.*}", forward)
    return app

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

import logging
from collections.abc import Callable, Mapping

import aiohttp
from aiohttp import web

from diffusion_operator.activator import messages
from diffusion_operator.activator.gate import Gate, HoldError

log = logging.getLogger(__name__)

#: RFC 9110 hop-by-hop headers plus the ones aiohttp sets itself.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade", "host", "content-length"})
#: Tries to reach Triton for one request; each retry waits at the gate again.
ATTEMPTS = 4
#: KServe bodies are small prompts, or images for inpainting; beyond this a request is refused (413).
MAX_BODY_BYTES = 32 * 1024 * 1024


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in dict(headers).items() if key.lower() not in _HOP_BY_HOP}


def error_response(error: HoldError) -> web.Response:
    headers = {"Retry-After": "1"} if error.retryable else {}
    return web.json_response({"error": str(error)}, status=error.status, headers=headers)


def build_app(gate: Gate, session: aiohttp.ClientSession, backend_url: str,
              on_unreachable: Callable[[], None]) -> web.Application:
    """The pass-through app; ``on_unreachable`` is told when a forward could not reach Triton."""

    async def forward(request: web.Request) -> web.StreamResponse:
        body: bytes | None = None
        for attempt in range(ATTEMPTS):
            try:
                await gate.enter()
            except HoldError as error:
                return error_response(error)
            if body is None:
                body = await request.read()
            try:
                async with session.request(request.method, backend_url + request.path_qs,
                                           headers=forwarded_headers(request.headers), data=body) as upstream:
                    payload = await upstream.read()
                    return web.Response(status=upstream.status, body=payload,
                                        headers=forwarded_headers(upstream.headers))
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
                    aiohttp.ClientOSError) as error:
                log.info("forward %d did not reach Triton (%s); holding again", attempt + 1, error)
                gate.close()
                on_unreachable()
            except aiohttp.ClientError as error:  # the pod went away mid-answer (payload cut short)
                log.warning("forward %d lost its answer (%s: %s); sending again", attempt + 1,
                            type(error).__name__, error)
                on_unreachable()
        return web.json_response({"error": messages.upstream_failed(gate.service, "Triton unreachable")},
                                 status=503, headers={"Retry-After": "1"})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{path:.*}", forward)
    return app

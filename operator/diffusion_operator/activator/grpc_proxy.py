"""KServe v2 over gRPC: a generic handler that forwards every method's raw bytes to Triton.

No request or response is deserialised (``request_deserializer``/``response_serializer`` are None,
so grpc hands the handler bytes): the activator needs no Triton protos to stay correct across
Triton versions, and adds no (de)serialisation cost. Unary methods (``ModelInfer``, metadata,
health) and the bidirectional ``ModelStreamInfer`` are both passed through; client metadata goes
along, the caller's deadline too.

As over HTTP, a call that ends ``UNAVAILABLE`` (Triton unreachable) closes the gate and waits again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from diffusion_operator.activator import messages
from diffusion_operator.activator.channels import ChannelPool
from diffusion_operator.activator.gate import Gate, HoldError
from diffusion_operator.activator.http_proxy import ATTEMPTS, Authenticate, UnreachableError

log = logging.getLogger(__name__)

STREAMING_METHODS = frozenset({"/inference.GRPCInferenceService/ModelStreamInfer"})
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
#: Triton's own limit is unbounded; images in and out exceed grpc's 4 MiB default.
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


async def call_through_gate(gate: Gate, call: Callable[..., Awaitable[bytes]], request: bytes,
                            on_unreachable: Callable[[], None], *,
                            metadata: list[tuple[str, str | bytes]] | None = None,
                            timeout: float | None = None) -> tuple[bytes, float]:
    """Wait at the gate, call, and hold again when Triton could not be reached (``ATTEMPTS`` times):
    ``send_through_gate`` for gRPC. Returns Triton's answer and the seconds held at the gate.

    Raises ``HoldError`` (the gate refused), ``UnreachableError``, or Triton's own refusal as
    ``grpc.aio.AioRpcError``. Cancelling the caller cancels the RPC, and Triton cancels the request.
    """
    loop = asyncio.get_running_loop()
    held_s = 0.0
    for _ in range(ATTEMPTS):
        arrived = loop.time()
        try:
            await gate.enter()
        finally:
            held_s += loop.time() - arrived
        try:
            response: bytes = await call(request, metadata=metadata, timeout=timeout)
            return response, held_s
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            log.info("forward did not reach Triton (%s); holding again", error.details())
            gate.close()
            on_unreachable()
    raise UnreachableError(messages.upstream_failed(gate.service, "Triton unreachable"))


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> list[tuple[str, str | bytes]]:
    return [(key, value) for key, value in context.invocation_metadata() or ()
            if not key.startswith((":", "grpc-")) and key not in ("user-agent", "content-type", "te", "authorization")]


class PassThrough(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no types
    """``authenticate`` (with the API on): the ``authorization`` metadata must carry a valid key, as
    over HTTP; it is not forwarded."""

    def __init__(self, gate: Gate, channel: ChannelPool, on_unreachable: Callable[[], None],
                 authenticate: Authenticate | None = None) -> None:
        self.gate = gate
        self.channel = channel
        self.on_unreachable = on_unreachable
        self.authenticate = authenticate

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if method in STREAMING_METHODS:
            return grpc.stream_stream_rpc_method_handler(self._streaming(method))
        return grpc.unary_unary_rpc_method_handler(self._unary(method))

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self.authenticate is not None:
            presented = dict(context.invocation_metadata() or ()).get("authorization")
            if self.authenticate(presented if isinstance(presented, str) else None) is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, messages.unauthorized(self.gate.service))

    async def _admit(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await self._authenticate(context)
        try:
            await self.gate.enter()
        except HoldError as error:
            await context.abort(getattr(grpc.StatusCode, error.grpc_code), str(error))

    def _unary(self, method: str) -> Callable[..., Any]:
        call = self.channel.unary_unary(method)

        async def handle(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            await self._authenticate(context)
            try:
                response, _ = await call_through_gate(self.gate, call, request, self.on_unreachable,
                                                      metadata=_metadata(context), timeout=context.time_remaining())
            except HoldError as error:
                await context.abort(getattr(grpc.StatusCode, error.grpc_code), str(error))
            except UnreachableError as error:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")
            return response

        return handle

    def _streaming(self, method: str) -> Callable[..., Any]:
        call = self.channel.stream_stream(method)

        async def handle(requests: AsyncIterator[bytes],
                         context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
            await self._admit(context)
            stream = call(requests, metadata=_metadata(context), timeout=context.time_remaining())
            try:
                async for response in stream:
                    yield response
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")

        return handle

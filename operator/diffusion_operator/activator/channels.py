"""The activator's gRPC connections to Triton: several channels, each its own TCP connection, each
replaced after ``max_age_s``.

Why not one channel: gRPC sends every call over one long-lived HTTP/2 connection, and a connection
to the backend Service's ClusterIP is pinned by kube-proxy to the one pod it reached when it opened.
One channel would send all of an activator's gRPC traffic (the OpenAI API's images, the KServe gRPC
pass-through) to one Triton pod however many the autoscaler starts, and keep sending it to a pod
that is gone: when a pod's network namespace disappears nobody answers with a reset, so a call on
its connection waits for TCP's retransmission timeout (many minutes). The field's remedies are
client-side load balancing over a headless Service or rotating connections; this rotates, so the
ClusterIP (and the NetworkPolicy written for it) stays the only address:

- ``size`` channels, picked in turn per call, so concurrent and successive calls spread over the
  pods their connections reached (each channel gets its own subchannel pool: channels with the same
  arguments would otherwise share one connection);
- a channel older than ``max_age_s`` is replaced when it is next picked: new pods get traffic within
  that time, and after a scale to zero the first call opens a fresh connection instead of one to a
  pod that no longer exists. The old channel is closed in the background with a grace long enough
  for the calls still on it (``close_grace_s``), so replacing never cuts a running image short.

The clock and the channel factory are arguments, for the unit tests.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc.aio

#: Each channel its own connection (``GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL``).
OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)
#: Channels per activator: enough to spread over a service's pods (the samples scale to 8).
DEFAULT_SIZE = 8
#: How long a connection may stay pinned to one pod.
DEFAULT_MAX_AGE_S = 30.0
#: A replaced channel's calls may run this long before it is closed under them (a full-size image on
#: a loaded pod takes minutes; the API's own deadline is shorter).
DEFAULT_CLOSE_GRACE_S = 900.0

ChannelFactory = Callable[[], grpc.aio.Channel]


@dataclass
class _Slot:
    channel: grpc.aio.Channel
    opened: float


@dataclass
class ChannelPool:
    open_channel: ChannelFactory
    clock: Callable[[], float]
    size: int = DEFAULT_SIZE
    max_age_s: float = DEFAULT_MAX_AGE_S
    close_grace_s: float = DEFAULT_CLOSE_GRACE_S
    _slots: list[_Slot] = field(default_factory=list)
    _turn: Any = None
    _closing: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size: a pool needs at least one channel, not {self.size}")
        now = self.clock()
        self._slots = [_Slot(self.open_channel(), now) for _ in range(self.size)]
        self._turn = itertools.cycle(range(self.size))

    def pick(self) -> grpc.aio.Channel:
        """The next channel in turn, opened anew first when it has reached ``max_age_s``."""
        slot = self._slots[next(self._turn)]
        now = self.clock()
        if now - slot.opened >= self.max_age_s:
            old = slot.channel
            slot.channel, slot.opened = self.open_channel(), now
            task = asyncio.get_running_loop().create_task(old.close(grace=self.close_grace_s))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return slot.channel

    def unary_unary(self, method: str) -> PooledCall:
        return PooledCall(self, "unary_unary", method)

    def stream_stream(self, method: str) -> PooledCall:
        return PooledCall(self, "stream_stream", method)

    async def close(self) -> None:
        """Close every channel (calls in flight are cancelled) and wait for the replaced ones."""
        await asyncio.gather(*(slot.channel.close() for slot in self._slots), return_exceptions=True)
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)


@dataclass(frozen=True)
class PooledCall:
    """``Channel.unary_unary(method)`` or ``Channel.stream_stream(method)`` (``kind``) over the pool:
    each call goes on the channel ``pick`` gives."""

    pool: ChannelPool
    kind: str
    method: str

    def __call__(self, request: Any, *, metadata: Sequence[tuple[str, str | bytes]] | None = None,
                 timeout: float | None = None) -> Any:
        multicallable = getattr(self.pool.pick(), self.kind)(self.method)
        return multicallable(request, metadata=metadata, timeout=timeout)


def insecure_pool(target: str, options: Sequence[tuple[str, Any]], clock: Callable[[], float],
                  size: int = DEFAULT_SIZE, max_age_s: float = DEFAULT_MAX_AGE_S) -> ChannelPool:
    """A pool of plaintext channels to ``target`` (Triton's gRPC port inside the cluster)."""
    own = [*options, OWN_CONNECTION]
    return ChannelPool(lambda: grpc.aio.insecure_channel(target, options=own), clock, size=size, max_age_s=max_age_s)

"""The gate between clients and Triton: open while a Triton pod is Ready, a bounded queue otherwise.

``Gate.enter`` returns at once while the gate is open and nothing is held (the fast path costs no
allocation). Otherwise the request joins the queue, or is refused with ``QueueFullError`` beyond
``limit``: a held request costs only a future and its small KServe body, so the limit bounds the
memory a flood at zero can take. Each held request waits until the gate opens (released oldest
first: futures resolve in the order they were queued), until its deadline (``HoldTimeoutError``), or until
the service reports that its pods cannot start (``CannotStartError``). The clock is an argument so the
tests run without sleeping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from diffusion_operator.activator import messages


class HoldError(Exception):
    """A held request that will not be forwarded; ``status`` is the HTTP status to answer with."""

    status = 503
    grpc_code = "UNAVAILABLE"
    retryable = True


class QueueFullError(HoldError):
    status = 429
    grpc_code = "RESOURCE_EXHAUSTED"


class HoldTimeoutError(HoldError):
    status = 504
    grpc_code = "DEADLINE_EXCEEDED"


class CannotStartError(HoldError):
    status = 503
    grpc_code = "UNAVAILABLE"
    retryable = False


class ShuttingDownError(HoldError):
    status = 503
    grpc_code = "UNAVAILABLE"


@dataclass
class _Held:
    arrived: float
    future: asyncio.Future[None]


@dataclass
class GateCounters:
    """What the metrics module exports; plain counts so the gate needs no Prometheus."""

    rejected: int = 0
    timed_out: int = 0
    failed_to_start: int = 0
    released: int = 0


@dataclass
class Gate:
    service: str
    limit: int
    deadline_s: float
    clock: Callable[[], float] = field(default_factory=lambda: asyncio.get_running_loop().time)
    counters: GateCounters = field(default_factory=GateCounters)
    _open: bool = False
    _held: deque[_Held] = field(default_factory=deque)
    #: When the gate last closed with no pod Ready: the cold start a timeout message reports.
    _closed_since: float | None = None

    def __post_init__(self) -> None:
        if self.limit < 1 or self.deadline_s <= 0:
            raise ValueError("the activator needs a queue limit >= 1 and a deadline above 0")

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def held(self) -> int:
        return len(self._held)

    def cold_start_s(self) -> float | None:
        """How long the service has been without a Ready pod (None: never seen one close)."""
        return None if self._closed_since is None else self.clock() - self._closed_since

    async def enter(self) -> None:
        """Return when the request may be forwarded; raise a ``HoldError`` when it never will."""
        if self._open and not self._held:
            return
        if len(self._held) >= self.limit:
            self.counters.rejected += 1
            raise QueueFullError(messages.queue_full(self.service, self.limit))
        loop = asyncio.get_running_loop()
        held = _Held(self.clock(), loop.create_future())
        self._held.append(held)
        try:
            await asyncio.wait_for(asyncio.shield(held.future), timeout=self.deadline_s)
        except TimeoutError:
            self.counters.timed_out += 1
            raise HoldTimeoutError(messages.hold_timeout(self.service, self.clock() - held.arrived,
                                                    self.cold_start_s())) from None
        finally:
            if held in self._held:
                self._held.remove(held)
            if not held.future.done():
                held.future.cancel()

    def open(self) -> None:
        """A Triton pod is Ready: release everything held, oldest first."""
        self._open = True
        self._closed_since = None
        while self._held:
            held = self._held.popleft()
            if not held.future.done():
                held.future.set_result(None)
                self.counters.released += 1

    def close(self) -> None:
        """No Triton pod is Ready (scaled to zero, or the last one went away): hold from now on."""
        if self._open or self._closed_since is None:
            self._closed_since = self.clock()
        self._open = False

    def fail(self, error: HoldError) -> int:
        """Answer every held request with ``error`` (its pods cannot start, or shutdown); returns how many."""
        failed = 0
        while self._held:
            held = self._held.popleft()
            if not held.future.done():
                held.future.set_exception(error)
                failed += 1
        if isinstance(error, CannotStartError):
            self.counters.failed_to_start += failed
        return failed

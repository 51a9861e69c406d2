"""Per-key limits: a token bucket for the rate, a counter for the requests in flight; and the one
limit shared by all keys, the bytes of uploads a replica holds (``UploadBudget``).

Each key has a bucket holding ``requests_per_minute`` tokens (a minute's worth may come at once),
refilled continuously at ``requests_per_minute / 60`` per second; a request takes one. With none
left it is refused with 429 and ``Retry-After`` = the seconds until one token is back. Concurrency
is checked first, so a request refused for being one too many in flight spends no token. Only
requests that passed every other check reach the limiter: a malformed request costs its key nothing.

Both limits live in one activator replica's memory (no shared store): with two replicas a key may
reach up to twice its limits across the service; the docs say so. The clock is an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from diffusion_operator.activator.openai import errors

#: With no idea when a request in flight ends, a client is told to come back in a second.
CONCURRENCY_RETRY_AFTER_S = 1.0
UPLOADS_RETRY_AFTER_S = 1.0


@dataclass
class _KeyState:
    tokens: float
    updated: float
    in_flight: int = 0


@dataclass
class Lease:
    """A request admitted for a key; ``release`` when it is answered (idempotent)."""

    limiter: KeyLimiter
    key: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limiter.finished(self.key)


@dataclass
class KeyLimiter:
    requests_per_minute: int | None
    max_concurrent: int | None
    clock: Callable[[], float]
    _keys: dict[str, _KeyState] = field(default_factory=dict)

    def in_flight(self, key: str) -> int:
        state = self._keys.get(key)
        return 0 if state is None else state.in_flight

    def admit(self, key: str) -> Lease:
        """A lease for one request of ``key``, or ``ApiError`` 429 with the seconds to wait."""
        now = self.clock()
        state = self._keys.setdefault(key, _KeyState(tokens=float(self.requests_per_minute or 0), updated=now))
        if self.max_concurrent is not None and state.in_flight >= self.max_concurrent:
            raise errors.rate_limited(
                f"Concurrency limit reached for API key '{key}': {self.max_concurrent} requests in flight. "
                "Retry when one has finished.", CONCURRENCY_RETRY_AFTER_S, code="concurrency_limit_exceeded")
        if self.requests_per_minute is not None:
            rate = self.requests_per_minute / 60.0
            state.tokens = min(float(self.requests_per_minute), state.tokens + (now - state.updated) * rate)
            state.updated = now
            if state.tokens < 1.0:
                wait_s = (1.0 - state.tokens) / rate
                raise errors.rate_limited(
                    f"Rate limit reached for API key '{key}': {self.requests_per_minute} requests per minute. "
                    f"Please try again in {wait_s:.1f}s.", wait_s)
            state.tokens -= 1.0
        state.in_flight += 1
        return Lease(self, key)

    def finished(self, key: str) -> None:
        state = self._keys.get(key)
        if state is not None and state.in_flight > 0:
            state.in_flight -= 1


@dataclass
class Reservation:
    """Bytes of one edit counted against its replica's ``UploadBudget``; ``release`` when answered (idempotent)."""

    budget: UploadBudget
    size: int
    released: bool = False

    def grow(self, more: int, what: str) -> None:
        """Count ``more`` bytes too (the photo's copies, one per image sent), or refuse the request."""
        self.budget.take(more, what, alone=self.size + more)
        self.size += more

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.budget.used -= self.size


@dataclass
class UploadBudget:
    """Bytes of uploads that one activator replica holds at once, across all keys.

    A generation holds a few KB; an edit holds its form (up to two 20 MiB files) and then one copy of
    the photo per image in flight to Triton (each KServe body carries it). Without a bound a burst of
    edits, or edits held while the service starts from zero, would take the pod past its memory limit
    (``render.activator``: 512 MiB). An edit reserves its ``Content-Length`` before its body is read
    and the photo's copies before they are sent; beyond the budget it is refused with 429 and
    ``Retry-After`` (another replica, or a moment later, has room). One request that alone needs
    more than the whole budget can never be served: that is a 400 naming what to lower.
    """

    total_bytes: int
    used: int = 0

    def take(self, size: int, what: str, alone: int) -> None:
        if alone > self.total_bytes:
            raise errors.invalid(what, f"This edit needs {alone / 2**20:.0f} MiB of uploads in flight (the photo once "
                                       f"per image), more than this server holds at once "
                                       f"({self.total_bytes / 2**20:.0f} MiB): lower n or send a smaller image.")
        if self.used + size > self.total_bytes:
            raise errors.rate_limited(f"This server is busy with other uploads ({self.used / 2**20:.0f} MiB in "
                                      f"flight); retry in a moment.", UPLOADS_RETRY_AFTER_S, code="uploads_busy")
        self.used += size

    def reserve(self, size: int) -> Reservation:
        self.take(size, "image", alone=size)
        return Reservation(self, size)

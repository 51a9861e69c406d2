"""Triton's per-model success counts, read once they have stopped moving.

Triton records a request's statistics *after* it sends the response, so a client can hold its
image (or its error) a moment before the count includes that request. The activator tests compare
counts exactly (a refused request that reached Triton must show as one too many), so both the
"before" and the "after" reading wait for the count to hold still."""
from __future__ import annotations

import time

from diffusion_operator.client.triton import Endpoint, TritonClient

from testbed.triton import TritonServer

#: How long a count must hold still to be read: far above the few milliseconds between a response
#: and its statistics, far below a test's budget.
QUIET_S = 1.0


def successes(triton: TritonServer, model: str) -> int:
    direct = TritonClient(Endpoint(triton.http_url))
    try:
        return direct.statistics(model).success_count
    finally:
        direct.close()


def settled_successes(triton: TritonServer, model: str, at_least: int = 0, deadline_s: float = 15.0) -> int:
    """The success count once it reaches `at_least` and then holds for `QUIET_S` (or at the deadline)."""
    stop = time.monotonic() + deadline_s
    count = successes(triton, model)
    while count < at_least and time.monotonic() < stop:
        time.sleep(0.1)
        count = successes(triton, model)
    while time.monotonic() < stop:
        time.sleep(QUIET_S)
        again = successes(triton, model)
        if again == count:
            break
        count = again
    return count

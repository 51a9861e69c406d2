"""Open-loop load: each request leaves at its arrival time, whatever the fleet is doing.

Why open loop: a closed-loop client slows down when the fleet does, which hides exactly the queueing
an autoscaler is judged on. Why a new connection per request: kube-proxy balances connections, not
requests; a pooled client would pin its traffic to the pods that existed when it connected, and the
simulator's fleet (like any stateless client's) sees every request routed afresh.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient

from bench.sim_to_real.repository import MODEL

#: Longest a request may take before it is counted lost (the fleet never takes this long when it works).
REQUEST_TIMEOUT_S = 300.0


@dataclass
class LoadResult:
    """Per request (in arrival order): queue wait in seconds (NaN: failed) and the failures' messages."""

    sent_at: npt.NDArray[np.float64]
    waits: npt.NDArray[np.float64]
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return int(np.isnan(self.waits).sum())


async def _one(address: str, index: int, result: LoadResult) -> None:
    client = aioclient.InferenceServerClient(address, conn_limit=1, conn_timeout=REQUEST_TIMEOUT_S)
    size = httpclient.InferInput("SIZE", [1, 1], "FP32")
    size.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
    try:
        sent = time.time()
        result.sent_at[index] = sent
        reply = await client.infer(MODEL, [size])
        result.waits[index] = float(reply.as_numpy("STARTED").reshape(-1)[0]) - sent
    except Exception as err:  # every failure is kept: lost requests count against the SLA
        result.errors.append(f"request {index}: {err}")
    finally:
        await client.close()


async def _replay(address: str, arrivals: npt.NDArray[np.float64], start: float, result: LoadResult) -> None:
    tasks = []
    for index, offset in enumerate(arrivals):
        delay = start + float(offset) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(address, index, result)))
    await asyncio.gather(*tasks)


def replay(address: str, arrivals: npt.NDArray[np.float64], start: float | None = None) -> LoadResult:
    """Send one request per arrival (seconds after ``start``, wall clock) to Triton at ``address``."""
    result = LoadResult(np.full(len(arrivals), math.nan), np.full(len(arrivals), math.nan))
    asyncio.run(_replay(address, arrivals, time.time() if start is None else start, result))
    return result

"""Send the speed tier to every serving Triton pod's control model (``layout.SPEED_TIER_MODEL``).

Why per pod and by inference request: the pipeline must learn the tier within one autoscaler tick
(a ConfigMap volume takes the kubelet's sync period, a minute or more), and a Service would reach one
pod, not all. Each pod keeps the setting for the order's ``lapse_s`` (``autoscaling.speed_tier.lapse_s``:
four ticks; engine_builder/triton_models/speed_tier_model.py caps it), so a pod the operator cannot
reach, or an operator that stopped, falls back to full steps by itself. Failures are returned, never
raised: a tier that does not arrive degrades nothing, and the status says which pods missed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import aiohttp

from diffusion_operator.api.conditions import Reason
from diffusion_operator.autoscaling.status import WriteFailure
from diffusion_operator.autoscaling.tick import SpeedTierOrder
from diffusion_operator.render.deployment import HTTP_PORT
from engine_builder.layout import SPEED_TIER_MODEL

TIMEOUT_S = 2.0


def tier_request(steps: int, ttl_s: float) -> dict[str, Any]:
    """The KServe v2 inference body that sets the tier (``steps`` 0: full steps)."""
    return {"inputs": [
        {"name": "steps", "shape": [1], "datatype": "INT32", "data": [int(steps)]},
        {"name": "ttl_s", "shape": [1], "datatype": "FP32", "data": [float(ttl_s)]},
    ]}


def control_url(address: str) -> str:
    """The control model's inference URL on the pod at ``address``."""
    return f"http://{address}:{HTTP_PORT}/v2/models/{SPEED_TIER_MODEL}/infer"


async def send_tier(session: aiohttp.ClientSession, urls: Iterable[str], steps: int, ttl_s: float) -> list[str]:
    """Set the tier on every URL concurrently; the failures, one line each (empty: all pods have it)."""
    body = tier_request(steps, ttl_s)

    async def one(url: str) -> str | None:
        try:
            async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as response:
                return None if response.status == 200 else f"{url}: HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as err:
            return f"{url}: {type(err).__name__}"

    results = await asyncio.gather(*(one(url) for url in urls))
    return [r for r in results if r is not None]


async def apply_tier(session: aiohttp.ClientSession, order: SpeedTierOrder) -> WriteFailure | None:
    """The planned tier on every pod it names; the pods that did not take it, as one failure."""
    failed = await send_tier(session, map(control_url, order.addresses), order.steps, order.lapse_s)
    if not failed:
        return None
    return WriteFailure(Reason.FAILED_SET_SPEED_TIER,
                        f"{len(failed)} of {len(order.addresses)} pod(s) did not take the speed tier "
                        f"({order.steps or 'full'} steps): {'; '.join(failed)}")

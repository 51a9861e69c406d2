"""Send the overload speed tier to every ready Triton pod's ``speed_tier`` control model.

Why per pod and by inference request: the pipeline must learn the tier within one autoscaler tick
(a ConfigMap volume takes the kubelet's sync period, a minute or more), and a Service would reach one
pod, not all. Each pod keeps the setting for ``TTL_S`` (engine_builder/triton_models/speed_tier_model.py),
so a pod the operator cannot reach, or an operator that stopped, falls back to full steps by itself.
Failures are returned, never raised: a tier that does not arrive degrades nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import aiohttp

from diffusion_operator.render.deployment import HTTP_PORT

SPEED_TIER_MODEL = "speed_tier"
# Four autoscaler ticks: one missed refresh does not flap the tier, a stopped operator ends it in a minute.
TTL_S = 60.0
TIMEOUT_S = 2.0


def tier_request(steps: int, ttl_s: float = TTL_S) -> dict[str, Any]:
    """The KServe v2 inference body that sets the tier (``steps`` 0: full steps)."""
    return {"inputs": [
        {"name": "steps", "shape": [1], "datatype": "INT32", "data": [int(steps)]},
        {"name": "ttl_s", "shape": [1], "datatype": "FP32", "data": [float(ttl_s)]},
    ]}


def ready_pod_urls(pods: Iterable[dict[str, Any]]) -> list[str]:
    """The control model's URL on every ready, not terminating pod with an IP."""
    urls = []
    for pod in pods:
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if ready and status.get("podIP") and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            urls.append(f"http://{status['podIP']}:{HTTP_PORT}/v2/models/{SPEED_TIER_MODEL}/infer")
    return urls


async def send_tier(session: aiohttp.ClientSession, urls: Iterable[str], steps: int) -> list[str]:
    """Set the tier on every URL concurrently; the failures, one line each (empty: all pods have it)."""
    body = tier_request(steps)

    async def one(url: str) -> str | None:
        try:
            async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as response:
                return None if response.status == 200 else f"{url}: HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as err:
            return f"{url}: {type(err).__name__}"

    results = await asyncio.gather(*(one(url) for url in urls))
    return [r for r in results if r is not None]

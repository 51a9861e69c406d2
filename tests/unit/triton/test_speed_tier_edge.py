"""The operator sends the speed tier to every ready Triton pod's control model; failures are reported, not raised."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from diffusion_operator.triton.speed_tier import SPEED_TIER_MODEL, ready_pod_urls, send_tier, tier_request


def pod(ip: str | None, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": "p", **({"deletionTimestamp": "now"} if deleting else {})},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_only_ready_pods_with_an_address_are_told() -> None:
    urls = ready_pod_urls([pod("10.0.0.1"), pod("10.0.0.2", ready=False), pod(None), pod("10.0.0.3", deleting=True)])
    assert urls == [f"http://10.0.0.1:8000/v2/models/{SPEED_TIER_MODEL}/infer"]


def test_the_body_is_a_v2_inference_request_with_a_ttl() -> None:
    body = tier_request(20, ttl_s=60.0)
    assert body["inputs"][0] == {"name": "steps", "shape": [1], "datatype": "INT32", "data": [20]}
    assert body["inputs"][1]["name"] == "ttl_s"


def test_every_pod_gets_the_tier_and_a_failing_one_is_named() -> None:
    received: list[dict[str, Any]] = []

    async def infer(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"outputs": []})

    async def scenario() -> list[str]:
        app = web.Application()
        app.router.add_post(f"/v2/models/{SPEED_TIER_MODEL}/infer", infer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        good = f"http://127.0.0.1:{port}/v2/models/{SPEED_TIER_MODEL}/infer"
        missing = f"http://127.0.0.1:{port}/v2/models/other/infer"
        async with aiohttp.ClientSession() as session:
            failed = await send_tier(session, [good, good, missing], 20)
        await runner.cleanup()
        return failed

    failed = asyncio.run(scenario())
    assert len(received) == 2 and all(r["inputs"][0]["data"] == [20] for r in received)
    assert len(failed) == 1 and "HTTP 404" in failed[0]

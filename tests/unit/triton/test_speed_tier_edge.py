"""The operator sends the speed tier to every ready Triton pod's control model; failures are reported, not raised."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from diffusion_operator.api.conditions import Reason
from diffusion_operator.autoscaling.tick import SpeedTierOrder
from diffusion_operator.triton import speed_tier
from diffusion_operator.triton.speed_tier import apply_tier, control_url, send_tier, tier_request

from engine_builder.layout import SPEED_TIER_MODEL


def test_the_control_model_is_addressed_on_the_pods_http_port() -> None:
    assert control_url("10.0.0.1") == f"http://10.0.0.1:8000/v2/models/{SPEED_TIER_MODEL}/infer"


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
            failed = await send_tier(session, [good, good, missing], 20, 60.0)
        await runner.cleanup()
        return failed

    failed = asyncio.run(scenario())
    assert len(received) == 2 and all(r["inputs"][0]["data"] == [20] for r in received)
    assert len(failed) == 1 and "HTTP 404" in failed[0]


def test_pods_that_miss_the_tier_are_one_named_failure(monkeypatch) -> None:
    async def scenario() -> object:
        runner = web.AppRunner(web.Application())  # answers 404: no control model on this "pod"
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        monkeypatch.setattr(speed_tier, "control_url", lambda address: f"http://{address}:{port}/v2/models/x/infer")
        async with aiohttp.ClientSession() as session:
            failure = await apply_tier(session, SpeedTierOrder(steps=20, lapse_s=60.0, addresses=("127.0.0.1",)))
        await runner.cleanup()
        return failure

    failure = asyncio.run(scenario())
    assert failure is not None and failure.reason == Reason.FAILED_SET_SPEED_TIER  # type: ignore[attr-defined]
    assert "1 of 1 pod(s)" in failure.detail and "HTTP 404" in failure.detail  # type: ignore[attr-defined]

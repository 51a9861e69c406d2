"""The API's routes in process, with Triton replaced by a recorder: a request without a valid key is
refused before anything is read or sent, bad bodies never reach Triton, a good one comes back in
OpenAI's shape with its seeds, and the metrics name keys, never show them."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from diffusion_operator.activator.keys import KeyStore
from diffusion_operator.activator.metrics import ApiMetrics
from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.limits import KeyLimiter
from diffusion_operator.activator.openai.requests import ImageJob
from diffusion_operator.activator.openai.routes import OpenAIApi
from diffusion_operator.activator.openai.settings import MAX_FIELDS_BYTES, ApiSettings, SizeCaps
from diffusion_operator.activator.openai.upstream import TritonImage
from diffusion_operator.client.triton import Generated
from PIL import Image
from prometheus_client import CollectorRegistry, generate_latest

KEY = "sk-alice-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


class RecordingTriton:
    def __init__(self, fail_seed: int | None = None) -> None:
        self.seeds: list[int] = []
        self.fail_seed = fail_seed

    async def generate(self, job: ImageJob, seed: int) -> TritonImage:
        self.seeds.append(seed)
        await asyncio.sleep(0.01)
        if seed == self.fail_seed:
            raise errors.upstream(400, "width: too large")
        image = np.full((job.height, job.width, 3), seed % 255, dtype=np.uint8)
        return TritonImage(Generated(image=image, seed=seed, seconds=0.01, degraded=seed % 2 == 1), held_s=0.0)


def with_api(tmp_path: Path, triton: RecordingTriton,
             test: Callable[[TestClient[Any, Any], CollectorRegistry], Awaitable[None]], **settings: Any) -> None:
    (tmp_path / "alice").write_text(KEY)
    registry = CollectorRegistry()
    api = OpenAIApi(
        settings=ApiSettings(keys_dir=tmp_path, model_id="sdxl", max_images=4, max_steps=50,
                             sizes=SizeCaps.parse(None, "64x64-256x256", "64x64"), body_timeout_s=0.3, **settings),
        keys=KeyStore(tmp_path, clock=lambda: 0.0),
        limiter=KeyLimiter(settings.get("requests_per_minute"), settings.get("max_concurrent"), clock=lambda: 0.0),
        images=triton,  # type: ignore[arg-type]
        metrics=ApiMetrics(registry), draw_seed=lambda highest: 100)

    async def run() -> None:
        app = web.Application()
        api.add_routes(app)
        async with TestClient(TestServer(app)) as client:
            await test(client, registry)

    asyncio.run(run())


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_without_a_valid_key_nothing_is_read_or_sent(tmp_path: Path):
    triton = RecordingTriton()

    async def test(client: TestClient[Any, Any], registry: CollectorRegistry) -> None:
        for headers in ({}, {"Authorization": "Bearer sk-wrong"}):
            response = await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert (await response.json())["error"]["code"] == "invalid_api_key"
        assert metric(registry, "diffusion_api_requests_total", route="/v1/images/generations", key="(none)",
                      code="401") == 2

    with_api(tmp_path, triton, test)
    assert triton.seeds == []


def test_a_generation_comes_back_in_openais_shape_with_seeds_and_degradation(tmp_path: Path):
    triton = RecordingTriton()

    async def test(client: TestClient[Any, Any], registry: CollectorRegistry) -> None:
        response = await client.post("/v1/images/generations", headers=AUTH,
                                     json={"prompt": "a cube", "n": 3, "size": "128x64", "seed": 10})
        assert response.status == 200, await response.text()
        body = await response.json()
        assert response.headers["X-Prompt-Truncated"] == "false"
        assert [item["seed"] for item in body["data"]] == [10, 11, 12]
        assert [item["degraded"] for item in body["data"]] == [False, True, False]
        assert body["size"] == "128x64" and body["output_format"] == "png" and isinstance(body["created"], int)
        with Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"]))) as image:
            assert (image.format, image.size) == ("PNG", (128, 64))
        assert metric(registry, "diffusion_api_images_total", key="alice") == 3
        assert metric(registry, "diffusion_api_request_duration_seconds_count", route="/v1/images/generations",
                      key="alice", code_class="2xx") == 1
        assert KEY.encode() not in generate_latest(registry)

    with_api(tmp_path, triton, test)
    assert sorted(triton.seeds) == [10, 11, 12]


def test_bad_bodies_are_refused_before_triton(tmp_path: Path):
    triton = RecordingTriton()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"prompt": '
        await asyncio.sleep(2)
        yield b'"late"}'

    async def test(client: TestClient[Any, Any], _: CollectorRegistry) -> None:
        cases: list[tuple[Any, int, str | None]] = [
            (b"{not json", 400, None),
            (json.dumps({"prompt": "x", "n": 9}).encode(), 400, "n"),
            (json.dumps({"prompt": "x", "size": "512x512"}).encode(), 400, "size"),
            (b"{" + b" " * MAX_FIELDS_BYTES + b"}", 413, None),
            (slow_body(), 408, None),
        ]
        for data, status, param in cases:
            response = await client.post("/v1/images/generations", data=data, headers=AUTH)
            assert response.status == status, await response.text()
            assert (await response.json())["error"]["param"] == param

    with_api(tmp_path, triton, test)
    assert triton.seeds == []


def test_one_refused_image_answers_for_the_request(tmp_path: Path):
    async def test(client: TestClient[Any, Any], _: CollectorRegistry) -> None:
        response = await client.post("/v1/images/generations", headers=AUTH, json={"prompt": "x", "n": 2, "seed": 5})
        assert response.status == 400
        assert "width: too large" in (await response.json())["error"]["message"]

    with_api(tmp_path, RecordingTriton(fail_seed=6), test)


def test_the_rate_limit_answers_429_with_retry_after(tmp_path: Path):
    async def test(client: TestClient[Any, Any], _: CollectorRegistry) -> None:
        statuses = []
        for _ in range(3):
            response = await client.post("/v1/images/generations", headers=AUTH, json={"prompt": "x"})
            statuses.append(response.status)
        assert statuses == [200, 200, 429]
        assert response.headers["Retry-After"] == "30"

    with_api(tmp_path, RecordingTriton(), test, requests_per_minute=2)


def test_models_edits_and_other_paths(tmp_path: Path):
    async def test(client: TestClient[Any, Any], _: CollectorRegistry) -> None:
        models = await (await client.get("/v1/models", headers=AUTH)).json()
        assert [model["id"] for model in models["data"]] == ["sdxl"]
        assert (await client.get("/v1/models/sdxl", headers=AUTH)).status == 200
        missing = await client.get("/v1/models/dall-e-3", headers=AUTH)
        assert (missing.status, (await missing.json())["error"]["code"]) == (404, "model_not_found")
        edits = await (await client.post("/v1/images/edits", headers=AUTH, data=b"")).json()
        assert (edits["error"]["param"], edits["error"]["code"]) == ("model", "unsupported_endpoint")
        assert (await client.get("/v1/images/generations", headers=AUTH)).status == 404
        assert (await client.get("/v1/anything", headers=AUTH)).status == 404
        assert (await client.get("/v1/models")).status == 401

    with_api(tmp_path, RecordingTriton(), test)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lossy_formats(tmp_path: Path, fmt: str):
    async def test(client: TestClient[Any, Any], _: CollectorRegistry) -> None:
        response = await client.post("/v1/images/generations", headers=AUTH,
                                     json={"prompt": "x", "output_format": fmt, "output_compression": 50})
        body = await response.json()
        with Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"]))) as image:
            assert image.format == fmt.upper()

    with_api(tmp_path, RecordingTriton(), test)

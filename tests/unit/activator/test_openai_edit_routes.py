"""``POST /v1/images/edits`` in process, with Triton replaced by a recorder: the official client's form
is read as sent and answered in OpenAI's shape; a service without the photoshoot pipeline answers 404
before reading anything; oversized, slow or malformed uploads are refused with their status; and a
client that disconnects cancels its Triton call and frees everything it held."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from diffusion_operator.activator.keys import KeyStore
from diffusion_operator.activator.metrics import ApiMetrics
from diffusion_operator.activator.openai.edits import EditJob
from diffusion_operator.activator.openai.limits import KeyLimiter
from diffusion_operator.activator.openai.routes import OpenAIApi
from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps
from diffusion_operator.activator.openai.upstream import TritonPhoto
from diffusion_operator.client.triton import Photographed
from PIL import Image
from prometheus_client import CollectorRegistry

KEY = "sk-alice-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_FILE = 64 * 1024


def png(width: int = 48, height: int = 32, alpha: bool = False) -> bytes:
    channels = 4 if alpha else 3
    array = np.random.default_rng(width).integers(0, 255, (height, width, channels), dtype=np.uint8)
    if alpha:
        array[..., 3] = 255
        array[:8, :, 3] = 0
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


class RecordingPhotoshoot:
    def __init__(self, block: bool = False) -> None:
        self.calls: list[tuple[EditJob, bytes, int]] = []
        self.cancelled = 0
        self.block = block

    async def photoshoot(self, edit: EditJob, photo: bytes, seed: int) -> TritonPhoto:
        self.calls.append((edit, photo, seed))
        try:
            await asyncio.sleep(3600 if self.block else 0.01)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        result = png(edit.job.width * (edit.job.upscale or 1), edit.job.height * (edit.job.upscale or 1))
        return TritonPhoto(Photographed(image_png=result, mask_png=b"", seed=seed, seconds=0.01), held_s=0.0)


Test = Callable[[TestClient[Any, Any], OpenAIApi, CollectorRegistry], Awaitable[None]]


def with_api(tmp_path: Path, triton: RecordingPhotoshoot, test: Test, **settings: Any) -> None:
    (tmp_path / "alice").write_text(KEY)
    registry = CollectorRegistry()
    options: dict[str, Any] = {"edits": True, "max_upload_bytes": MAX_FILE, "upload_timeout_s": 0.5, **settings}
    api = OpenAIApi(
        settings=ApiSettings(keys_dir=tmp_path, model_id="sdxl", max_images=4, max_steps=50,
                             sizes=SizeCaps.parse(None, "64x64-256x256", "64x64"), **options),
        keys=KeyStore(tmp_path, clock=lambda: 0.0), limiter=KeyLimiter(None, None, clock=lambda: 0.0),
        images=triton,  # type: ignore[arg-type]
        metrics=ApiMetrics(registry), draw_seed=lambda highest: 100)

    async def run() -> None:
        app = web.Application()
        api.add_routes(app)
        # aiohttp's TestServer always runs with handler_cancellation; the activator's own server is
        # checked by tests/integration/activator/test_openai_faults.py.
        async with TestClient(TestServer(app)) as client:
            await test(client, api, registry)

    asyncio.run(run())


def form(**fields: Any) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        if isinstance(value, bytes):
            data.add_field(name, io.BytesIO(value), filename=f"{name}.png", content_type="image/png")
        else:
            data.add_field(name, str(value))
    return data


def test_the_official_clients_edit_is_read_as_sent_and_answered_in_openais_shape(tmp_path: Path):
    triton = RecordingPhotoshoot()
    photo = png()

    async def test(client: TestClient[Any, Any], _: OpenAIApi, __: CollectorRegistry) -> None:
        openai_client = openai.AsyncOpenAI(api_key=KEY, base_url=str(client.make_url("/v1")), max_retries=0,
                                           http_client=openai.DefaultAsyncHttpxClient(trust_env=False))
        result = await openai_client.images.edit(
            image=("photo.png", photo, "image/png"), prompt="on a marble table", n=2, size="128x64",
            extra_body={"seed": 5, "num_inference_steps": 3, "guidance_scale": 4.5, "negative_prompt": "blurry",
                        "upscale": 2, "product_scale": 0.4, "placement": "bottom"})
        assert [item.model_extra["seed"] for item in result.data] == [5, 6]
        assert (result.size, result.output_format) == ("256x128", "png")
        with Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))) as image:
            assert (image.format, image.size) == ("PNG", (256, 128))
        await openai_client.close()

    with_api(tmp_path, triton, test)
    (edit, sent, _), _second = triton.calls
    assert sent == photo, "a PNG without a mask goes to the pipeline as uploaded"
    assert sorted(seed for _, _, seed in triton.calls) == [5, 6]
    job = edit.job
    assert (job.prompt, job.width, job.height, job.steps, job.guidance_scale) == ("on a marble table", 128, 64, 3, 4.5)
    assert (job.negative_prompt, job.upscale, edit.product_scale, edit.placement) == ("blurry", 2, 0.4, "bottom")


def test_jpeg_output_is_reencoded_and_a_mask_reaches_the_pipeline_as_transparency(tmp_path: Path):
    triton = RecordingPhotoshoot()

    async def test(client: TestClient[Any, Any], _: OpenAIApi, __: CollectorRegistry) -> None:
        response = await client.post("/v1/images/edits", headers=AUTH, data=form(
            image=png(), mask=png(alpha=True), prompt="x", output_format="jpeg"))
        assert response.status == 200, await response.text()
        body = await response.json()
        with Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"]))) as image:
            assert image.format == "JPEG"

    with_api(tmp_path, triton, test)
    [(_, sent, _)] = triton.calls
    with Image.open(io.BytesIO(sent)) as picture:
        assert (picture.mode, picture.size) == ("RGBA", (48, 24)), "the masked rows are cut off"


def test_without_the_photoshoot_pipeline_edits_are_a_404_before_the_body_is_read(tmp_path: Path):
    triton = RecordingPhotoshoot()

    async def test(client: TestClient[Any, Any], _: OpenAIApi, registry: CollectorRegistry) -> None:
        response = await client.post("/v1/images/edits", headers=AUTH, data=form(image=png(), prompt="x"))
        error = (await response.json())["error"]
        assert (response.status, error["param"], error["code"]) == (404, "model", "unsupported_endpoint")
        assert "spec.pipelines" in error["message"]

    with_api(tmp_path, triton, test, edits=False)
    assert triton.calls == []


def test_uploads_that_are_too_big_slow_or_not_a_form_are_refused(tmp_path: Path):
    triton = RecordingPhotoshoot()
    big = png() + b"\0" * MAX_FILE

    async def slow_form() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx\r\n'
        await asyncio.sleep(5)
        yield b"--b--\r\n"

    async def test(client: TestClient[Any, Any], api: OpenAIApi, _: CollectorRegistry) -> None:
        cases: list[tuple[dict[str, Any], int, str | None]] = [
            ({"data": form(image=big, prompt="x")}, 413, "image"),
            ({"data": form(image=png(), mask=big, prompt="x")}, 413, "mask"),
            ({"data": b"x" * (3 * MAX_FILE + 2**21), "headers": {"Content-Type": "multipart/form-data; boundary=b"}},
             413, None),
            ({"data": slow_form(), "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 408, None),
            ({"json": {"prompt": "x"}}, 400, None),
            ({"data": form(image=b"not an image", prompt="x")}, 400, "image"),
            ({"data": form(image=png(), mask=png(20, 20, alpha=True), prompt="x")}, 400, "mask"),
            ({"data": form(image=png())}, 400, "prompt"),
            ({"data": form(prompt="x")}, 400, "image"),
            ({"data": form(prompt="x", mask=png(alpha=True))}, 400, "image"),
        ]
        for kwargs, status, param in cases:
            headers = {**AUTH, **kwargs.pop("headers", {})}
            response = await client.post("/v1/images/edits", headers=headers, **kwargs)
            assert response.status == status, (status, param, await response.text())
            assert (await response.json())["error"]["param"] == param, await response.text()
        assert api.uploads.used == 0, "every refusal released its upload bytes"

    with_api(tmp_path, triton, test)
    assert triton.calls == []


def test_a_full_upload_budget_answers_429_before_reading(tmp_path: Path):
    async def test(client: TestClient[Any, Any], api: OpenAIApi, _: CollectorRegistry) -> None:
        held = api.uploads.reserve(api.uploads.total_bytes - 10)
        response = await client.post("/v1/images/edits", headers=AUTH, data=form(image=png(), prompt="x"))
        assert (response.status, response.headers["Retry-After"]) == (429, "1")
        assert (await response.json())["error"]["code"] == "uploads_busy"
        held.release()

    with_api(tmp_path, RecordingPhotoshoot(), test)


@pytest.mark.parametrize("route", ["/v1/images/edits", "/v1/images/generations"])
def test_a_client_that_disconnects_cancels_its_triton_call_and_frees_what_it_held(tmp_path: Path, route: str):
    triton = RecordingPhotoshoot(block=True)
    triton.generate = lambda job, seed: triton.photoshoot(  # type: ignore[attr-defined]
        EditJob(job, b"", None, None, None), b"", seed)

    async def test(client: TestClient[Any, Any], api: OpenAIApi, registry: CollectorRegistry) -> None:
        request = ({"data": form(image=png(), prompt="x", n=2)} if route.endswith("edits")
                   else {"json": {"prompt": "x", "n": 2}})
        with pytest.raises(TimeoutError):
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as impatient:
                await impatient.post(client.make_url(route), headers=AUTH, **request)
        for _ in range(100):
            if registry.get_sample_value("diffusion_api_requests_total",
                                         {"route": route, "key": "alice", "code": "499"}):
                break
            await asyncio.sleep(0.05)
        assert triton.cancelled == 2, "both images' Triton calls were cancelled"
        assert api.limiter.in_flight("alice") == 0 and api.uploads.used == 0
        models = await client.get("/v1/models", headers=AUTH)
        assert models.status == 200, "the gateway keeps serving"

    with_api(tmp_path, triton, test)

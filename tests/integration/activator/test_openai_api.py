"""The official ``openai`` client against the activator in front of a real Triton serving the tiny SDXL
repository: images come back in OpenAI's shape with the seeds used, pixel for pixel what Triton makes
for the same request; bad input, missing or wrong keys and a key over its rate are refused with the
right status and reach no GPU, while good requests sent among them are all served."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from testbed.triton import TritonServer
from tests.integration.activator.triton_counts import settled_successes

ALICE = "sk-alice-integration-0123456789"
BOB = "sk-bob-integration-9876543210"
STEPS = 2
MODEL = "sdxl-tiny"


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("api-keys")
    (directory / "alice").write_text(ALICE + "\n")
    (directory / "bob").write_text(BOB)
    return directory


def api_settings(keys_dir: Path, **limits: Any) -> ApiSettings:
    return ApiSettings(keys_dir=keys_dir, model_id=MODEL, max_images=2, max_steps=4,
                       sizes=SizeCaps.parse(None, "64x64-256x256", "256x256"), **limits)


@pytest.fixture(scope="module")
def api(sdxl_activator_factory: Callable[..., Any], keys_dir: Path) -> Any:
    return sdxl_activator_factory(api=api_settings(keys_dir))


def client(running: Any, key: str = ALICE) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"http://{running.http_url}/v1", max_retries=0, timeout=120)


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def post(running: Any, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://{running.http_url}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_openai_client_generates_what_triton_makes_for_the_same_request(api: Any, tiny_triton: TritonServer):
    result = client(api).images.generate(
        model=MODEL, prompt="a red circle on a blue square", n=2, size="128x128",
        extra_body={"seed": 7, "num_inference_steps": STEPS, "guidance_scale": 4.0, "negative_prompt": "blurry"})
    assert [item.model_extra["seed"] for item in result.data] == [7, 8]
    assert [item.model_extra["degraded"] for item in result.data] == [False, False]
    assert (result.size, result.output_format, result.model_extra["prompt_truncated"]) == ("128x128", "png", False)
    direct = TritonClient(Endpoint(tiny_triton.http_url))
    try:
        for item, seed in zip(result.data, (7, 8), strict=True):
            expected = direct.generate(ImageRequest(prompt="a red circle on a blue square", seed=seed, steps=STEPS,
                                                    width=128, height=128, guidance_scale=4.0,
                                                    negative_prompt="blurry")).image
            with decoded(item.b64_json) as image:
                assert image.format == "PNG" and image.size == (128, 128)
                assert np.array_equal(np.asarray(image.convert("RGB")), expected)
    finally:
        direct.close()


def test_formats_models_and_truncation_are_reported(api: Any):
    openai_client = client(api)
    jpeg = openai_client.images.generate(prompt="a cube " * 60, size="64x64", output_format="jpeg",
                                         extra_body={"num_inference_steps": 1})
    assert jpeg.model_extra["prompt_truncated"] is True
    with decoded(jpeg.data[0].b64_json) as image:
        assert image.format == "JPEG"
    assert [model.id for model in openai_client.models.list()] == [MODEL]
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.images.generate(model="dall-e-3", prompt="x", size="64x64")
    assert missing.value.code == "model_not_found"


def test_bad_requests_and_bad_keys_are_refused_among_good_ones_and_never_reach_triton(
        api: Any, tiny_triton: TritonServer):
    def good(seed: int) -> int:
        result = client(api).images.generate(prompt="a green triangle", size="64x64",
                                             extra_body={"num_inference_steps": 1, "seed": seed})
        return len(result.data)

    def refused(kind: str) -> tuple[str, int, str | None]:
        if kind == "malformed-json":
            status, body = post(api, "/v1/images/generations", b'{"prompt": "x",', {"Authorization": f"Bearer {ALICE}"})
            return kind, status, body["error"]["param"]
        if kind == "missing-key":
            status, body = post(api, "/v1/images/generations", json.dumps({"prompt": "x"}).encode(), {})
            return kind, status, body["error"]["code"]
        calls: dict[str, Callable[[], Any]] = {
            "n-over-cap": lambda: client(api).images.generate(prompt="x", n=3, size="64x64"),
            "bad-size": lambda: client(api).images.generate(prompt="x", size="100x100"),
            "steps-over-cap": lambda: client(api).images.generate(prompt="x", extra_body={"num_inference_steps": 9}),
            "unknown-field": lambda: client(api).images.generate(prompt="x", extra_body={"num_steps": 1}),
            "url-format": lambda: client(api).images.generate(prompt="x", response_format="url"),
            "wrong-key": lambda: client(api, key="sk-not-a-key").images.generate(prompt="x", size="64x64"),
        }
        try:
            calls[kind]()
        except openai.APIStatusError as error:
            return kind, error.status_code, error.param or error.code
        raise AssertionError(f"{kind} was served")

    before = settled_successes(tiny_triton, "sdxl")
    bad = ["malformed-json", "n-over-cap", "missing-key", "bad-size", "steps-over-cap", "unknown-field",
           "url-format", "wrong-key"]
    with ThreadPoolExecutor(6) as pool:
        goods = [pool.submit(good, seed) for seed in range(len(bad))]
        bads = [pool.submit(refused, kind) for kind in bad]
        served = [future.result(timeout=300) for future in goods]
        refusals = {kind: (status, what) for kind, status, what in (future.result(timeout=60) for future in bads)}
    assert served == [1] * len(bad), "every good request is served"
    assert refusals == {
        "malformed-json": (400, None), "n-over-cap": (400, "n"), "missing-key": (401, "invalid_api_key"),
        "bad-size": (400, "size"), "steps-over-cap": (400, "num_inference_steps"),
        "unknown-field": (400, "num_steps"), "url-format": (400, "response_format"),
        "wrong-key": (401, "invalid_api_key"),
    }
    assert settled_successes(tiny_triton, "sdxl", before + len(bad)) - before == len(bad), \
        "only the good requests reached Triton"


def test_a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_go_on(
        sdxl_activator_factory: Callable[..., Any], keys_dir: Path):
    limited = sdxl_activator_factory(api=api_settings(keys_dir, requests_per_minute=2))
    for _ in range(2):
        client(limited).images.generate(prompt="a dot", size="64x64", extra_body={"num_inference_steps": 1})
    with pytest.raises(openai.RateLimitError) as over:
        client(limited).images.generate(prompt="a dot", size="64x64", extra_body={"num_inference_steps": 1})
    assert 28 <= int(over.value.response.headers["retry-after"]) <= 30, "30 s a token, less the refill"
    assert over.value.code == "rate_limit_exceeded"
    assert client(limited, key=BOB).images.generate(prompt="a dot", size="64x64",
                                                    extra_body={"num_inference_steps": 1}).data


def test_with_the_api_on_the_kserve_pass_through_wants_a_key_too(api: Any):
    http = httpclient.InferenceServerClient(api.http_url)
    try:
        assert not http.is_model_ready("sdxl"), "answered 401 without a key"
        assert http.is_model_ready("sdxl", headers={"Authorization": f"Bearer {ALICE}"})
    finally:
        http.close()
    grpc = grpcclient.InferenceServerClient(api.grpc_url)
    try:
        with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
            grpc.is_model_ready("sdxl")
        assert grpc.is_model_ready("sdxl", headers={"authorization": f"Bearer {BOB}"})
    finally:
        grpc.close()


def test_metrics_count_by_key_name_and_never_show_a_key(api: Any):
    client(api).images.generate(prompt="a line", size="64x64", extra_body={"num_inference_steps": 1})
    assert post(api, "/v1/images/generations", b"{}", {"Authorization": "Bearer sk-guessed"})[0] == 401
    with urllib.request.urlopen(api.metrics_url, timeout=5) as response:
        text = response.read().decode()
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}
    route = ("route", "/v1/images/generations")
    assert samples[("diffusion_api_requests_total", (("code", "200"), ("key", "alice"), route))] >= 1
    assert samples[("diffusion_api_requests_total", (("code", "401"), ("key", "(none)"), route))] >= 1
    assert samples[("diffusion_api_images_total", (("key", "alice"),))] >= 1
    assert samples[("diffusion_api_request_duration_seconds_count",
                    (("code_class", "2xx"), ("key", "alice"), route))] >= 1
    assert ALICE not in text and BOB not in text and "sk-guessed" not in text


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """httpx (under openai) honours proxy variables; the activator is on 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield

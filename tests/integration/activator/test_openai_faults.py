"""Edits and faults against the activator in front of a real Triton serving the tiny repository with the
photoshoot pipeline: the official ``openai`` client edits a product photo (the product's pixels kept,
byte for byte what Triton makes for the same request); bad uploads, a slow body, a disconnecting
client and edits on a service without the pipeline are each refused with their status while good
traffic sent among them is all served; and a client that goes away mid-request ends its request (at
Triton, or held at zero) without leaking its slot."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps
from diffusion_operator.client.request import PhotoshootRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from testbed.triton import TritonServer
from tests.integration.activator.triton_counts import settled_successes, successes

KEY = "sk-carol-integration-0123456789"
MODEL = "sdxl-tiny"
PHOTOSHOOT = "sdxl-photoshoot"
#: Small caps, so "too big" and "too slow" cost little: a 96x96 PNG is ~30 KB.
MAX_UPLOAD = 200_000
UPLOAD_TIMEOUT_S = 3.0
#: The product: a disk of random colours (channel mean well below the white segmenter's 0.9 x 255).
SIDE, CENTER, RADIUS = 96, 48, 20


def product_photo() -> np.ndarray:
    yy, xx = np.mgrid[:SIDE, :SIDE]
    disk = (yy - CENTER) ** 2 + (xx - CENTER) ** 2 <= RADIUS**2
    photo = np.full((SIDE, SIDE, 3), 255, np.uint8)
    photo[disk] = np.random.default_rng(1).integers(0, 200, size=(int(disk.sum()), 3), dtype=np.uint8)
    return photo


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def mask_keeping(rows: slice, cols: slice, size: int = SIDE) -> bytes:
    """Transparent (edit) everywhere but ``rows`` x ``cols``."""
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[rows, cols, 3] = 255
    return png(rgba)


PHOTO = png(product_photo())


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("edit-keys")
    (directory / "carol").write_text(KEY)
    return directory


def settings(keys_dir: Path, **overrides: Any) -> ApiSettings:
    return ApiSettings(keys_dir=keys_dir, model_id=MODEL, max_images=2,
                       sizes=SizeCaps.parse(None, "64x64-256x256", "64x64"), **{
                           "max_steps": 50, "edits": True, "max_upload_bytes": MAX_UPLOAD,
                           "upload_timeout_s": UPLOAD_TIMEOUT_S,
                           **overrides})


@pytest.fixture(scope="module")
def edits(photoshoot_activator_factory: Callable[..., Any], keys_dir: Path) -> Any:
    return photoshoot_activator_factory(api=settings(keys_dir))


def client(running: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=f"http://{running.http_url}/v1", max_retries=0, timeout=120)


def metric(running: Any, name: str, **labels: str) -> float:
    with urllib.request.urlopen(running.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def raw_request(running: Any, path: str, head: dict[str, str], body: bytes) -> socket.socket:
    """Headers and (part of) a body on a plain socket, left open: the caller trickles, waits or hangs up."""
    sock = socket.create_connection(("127.0.0.1", int(running.http_url.rsplit(":", 1)[1])), timeout=30)
    lines = [f"POST {path} HTTP/1.1", f"Host: {running.http_url}", f"Authorization: Bearer {KEY}",
             *(f"{name}: {value}" for name, value in head.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return sock


def form_head(boundary: str = "b") -> bytes:
    return (f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\non a table\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + PHOTO[:1000]


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_openai_client_edits_a_product_photo_into_what_triton_makes_for_the_same_request(
        edits: Any, photoshoot_triton: TritonServer):
    options = {"seed": 3, "num_inference_steps": 2, "guidance_scale": 4.0, "negative_prompt": "blurry",
               "product_scale": 0.5, "placement": "bottom"}
    result = client(edits).images.edit(image=("product.png", PHOTO, "image/png"), prompt="on a marble table",
                                       size="64x64", extra_body=options)
    assert [item.model_extra["seed"] for item in result.data] == [3]
    assert (result.size, result.output_format) == ("64x64", "png")
    direct = TritonClient(Endpoint(photoshoot_triton.http_url))
    try:
        expected = direct.photoshoot(PhotoshootRequest(
            image=PHOTO, prompt="on a marble table", negative_prompt="blurry", seed=3, steps=2, width=64, height=64,
            product_scale=0.5, placement="bottom", guidance_scale=4.0))
    finally:
        direct.close()
    assert base64.b64decode(result.data[0].b64_json) == expected.image_png, "the pipeline's PNG, passed through"


def test_a_mask_decides_what_may_be_kept(edits: Any):
    """Opaque over the product: served. Opaque only over white studio background: nothing is left to keep."""
    around_product = mask_keeping(slice(CENTER - RADIUS - 2, CENTER + RADIUS + 3), slice(0, SIDE))
    kept = client(edits).images.edit(image=("p.png", PHOTO, "image/png"), mask=("m.png", around_product, "image/png"),
                                     prompt="on a marble table", size="64x64", extra_body={"num_inference_steps": 1})
    assert len(kept.data) == 1
    with pytest.raises(openai.BadRequestError) as nothing:
        client(edits).images.edit(image=("p.png", PHOTO, "image/png"), mask=("m.png", mask_keeping(
            slice(0, 10), slice(0, 10)), "image/png"), prompt="x", size="64x64", extra_body={"num_inference_steps": 1})
    assert nothing.value.param == "image" and "no foreground" in nothing.value.message


def test_bad_uploads_and_faults_are_refused_among_good_traffic_and_every_good_request_is_served(
        edits: Any, photoshoot_activator_factory: Callable[..., Any], keys_dir: Path,
        photoshoot_triton: TritonServer):
    without_edits = photoshoot_activator_factory(api=settings(keys_dir, edits=False))
    url = f"http://{edits.http_url}/v1/images/edits"
    auth = {"Authorization": f"Bearer {KEY}"}

    def good(kind: str, seed: int) -> int:
        extra = {"num_inference_steps": 1, "seed": seed}
        if kind == "edit":
            return len(client(edits).images.edit(image=("p.png", PHOTO, "image/png"), prompt="on a table",
                                                 size="64x64", extra_body=extra).data)
        return len(client(edits).images.generate(prompt="a green triangle", size="64x64", extra_body=extra).data)

    def status_of(call: Callable[[], Any]) -> tuple[int, str | None]:
        try:
            call()
        except openai.APIStatusError as error:
            return error.status_code, error.param
        raise AssertionError("served")

    def posted(fields: dict[str, str], files: dict[str, bytes]) -> tuple[int, str | None]:
        parts = [f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                 for name, value in fields.items()]
        parts += [f'--b\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
                  "Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for name, data in files.items()]
        request = urllib.request.Request(url, data=b"".join(parts) + b"--b--\r\n", method="POST", headers={
            **auth, "Content-Type": "multipart/form-data; boundary=b"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())["error"]["param"]

    def slow_body() -> tuple[int, str | None]:
        sock = raw_request(edits, "/v1/images/edits", {"Content-Type": "multipart/form-data; boundary=b",
                                                       "Content-Length": "100000"}, form_head())
        with sock:
            answer = sock.recv(65536).decode(errors="replace")
        return int(answer.split(" ", 2)[1]), json.loads(answer.split("\r\n\r\n", 1)[1])["error"]["param"]

    def hang_up_mid_upload() -> tuple[int, str | None]:
        before = metric(edits, "diffusion_api_requests_total", route="/v1/images/edits", code="499")
        sock = raw_request(edits, "/v1/images/edits", {"Content-Type": "multipart/form-data; boundary=b",
                                                       "Content-Length": "100000"}, form_head())
        time.sleep(0.5)  # the handler is reading the form by now
        sock.close()
        counted = wait_until(lambda: metric(edits, "diffusion_api_requests_total", route="/v1/images/edits",
                                            code="499") > before)
        return (499 if counted else 0), None

    bad: dict[str, Callable[[], tuple[int, str | None]]] = {
        "not-an-image": lambda: status_of(lambda: client(edits).images.edit(
            image=("p.png", b"%PDF-1.7 a document", "image/png"), prompt="x")),
        "oversized": lambda: status_of(lambda: client(edits).images.edit(
            image=("big.png", PHOTO + b"\0" * MAX_UPLOAD, "image/png"), prompt="x")),
        "mask-wrong-size": lambda: status_of(lambda: client(edits).images.edit(
            image=("p.png", PHOTO, "image/png"), mask=("m.png", mask_keeping(slice(0, 8), slice(0, 8), 64),
                                                       "image/png"), prompt="x")),
        "missing-image": lambda: posted({"prompt": "x"}, {"mask": mask_keeping(slice(0, 8), slice(0, 8))}),
        "missing-prompt": lambda: posted({}, {"image": PHOTO}),
        "edits-off": lambda: status_of(lambda: client(without_edits).images.edit(
            image=("p.png", PHOTO, "image/png"), prompt="x")),
        "slow-body": slow_body,
        "hang-up": hang_up_mid_upload,
        "steps-over-cap": lambda: status_of(lambda: client(edits).images.edit(
            image=("p.png", PHOTO, "image/png"), prompt="x", extra_body={"num_inference_steps": 99})),
    }
    edits_before = settled_successes(photoshoot_triton, PHOTOSHOOT)
    goods = [("edit", seed) for seed in range(3)] + [("generation", seed) for seed in range(3)]
    with ThreadPoolExecutor(8) as pool:
        served = [pool.submit(good, kind, seed) for kind, seed in goods]
        refused = {name: pool.submit(call) for name, call in bad.items()}
        assert [future.result(timeout=300) for future in served] == [1] * len(goods), "every good request served"
        outcomes = {name: future.result(timeout=60) for name, future in refused.items()}
    assert outcomes == {
        "not-an-image": (400, "image"), "oversized": (413, "image"), "mask-wrong-size": (400, "mask"),
        "missing-image": (400, "image"), "missing-prompt": (400, "prompt"), "edits-off": (404, "model"),
        "slow-body": (408, None), "hang-up": (499, None), "steps-over-cap": (400, "num_inference_steps"),
    }
    assert settled_successes(photoshoot_triton, PHOTOSHOOT, edits_before + 3) - edits_before == 3, \
        "only the good edits reached Triton"
    assert good("edit", 9) == 1, "the gateway keeps serving"


def test_a_client_that_disconnects_mid_generation_ends_its_request_frees_its_keys_slot_and_stops_triton(
        photoshoot_activator_factory: Callable[..., Any], photoshoot_triton: TritonServer, keys_dir: Path):
    """With one request in flight per key, a leaked slot would make the next request a 429. The
    activator's gRPC calls for the two images are cancelled, Triton cancels the requests and ``sdxl``
    stops at its next step: the UNet serves far fewer than the 2 x 150 steps asked for, then nothing."""
    single = photoshoot_activator_factory(api=settings(keys_dir, max_concurrent=1, max_steps=150))
    unet_before = settled_successes(photoshoot_triton, "unetxl")
    body = json.dumps({"prompt": "a slow one", "n": 2, "size": "256x256", "num_inference_steps": 150}).encode()
    sock = raw_request(single, "/v1/images/generations", {"Content-Type": "application/json",
                                                           "Content-Length": str(len(body))}, body)
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(1)  # still generating: the client gives up and hangs up
    started = time.monotonic()
    sock.close()
    assert wait_until(lambda: metric(single, "diffusion_api_requests_total", route="/v1/images/generations",
                                     code="499") == 1), "the request ended when its client went away"
    assert time.monotonic() - started < 5
    time.sleep(1)  # the cancellation reaches the pipeline within a step (~25 ms here)
    unet_steps = successes(photoshoot_triton, "unetxl") - unet_before
    time.sleep(1)
    assert successes(photoshoot_triton, "unetxl") - unet_before == unet_steps, "nothing runs on for them"
    assert unet_steps < 150, f"{unet_steps} UNet steps ran for an abandoned request of 2 x 150"
    result = client(single).images.generate(prompt="next", size="64x64", extra_body={"num_inference_steps": 1})
    assert len(result.data) == 1, "the key's slot was released: not a 429"


@pytest.mark.parametrize("path", ["/v2/models/echo/infer", "/v1/images/generations"])
def test_a_request_held_at_zero_leaves_the_queue_when_its_client_disconnects(
        activator_factory: Callable[..., Any], keys_dir: Path, path: str):
    """No Triton is running: the request is held. Hanging up must take it out of the queue, so the
    autoscaler does not wake the service for it and it is never sent when Triton is Ready."""
    api = settings(keys_dir) if path.startswith("/v1") else None
    running = activator_factory(api=api)
    body = json.dumps({"prompt": "x"} if api else {"inputs": []}).encode()
    sock = raw_request(running, path, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)
    assert wait_until(lambda: running.held() == 1), "held while no Triton pod is Ready"
    sock.close()
    assert wait_until(lambda: running.held() == 0, seconds=5), "the hung-up request left the queue"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """httpx (under openai) honours proxy variables; the activator is on 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield

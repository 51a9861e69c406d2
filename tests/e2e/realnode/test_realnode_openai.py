"""The OpenAI images API on the real node, called with the official ``openai`` client through the
Service, as an application would: a tiny service with ``spec.api`` on (a key from a Secret), the
photoshoot pipeline beside text-to-image, and scale to zero.

One service for the module, tests in order: at scale, ``images.generate`` and ``images.edit`` come
back with the extensions honoured; a request without a valid key is refused by the activator; then
the service idles to zero and a ``generate`` sent at zero is held and served.
"""

from __future__ import annotations

import base64
import io
import secrets
import time
from collections.abc import Iterator

import numpy as np
import openai
import pytest
from diffusion_operator.render.names import selector_string
from PIL import Image

from testbed.kube import KubeClient, WaitTimeoutError
from testbed.realnode.product import API, tiny_service
from tests.e2e.realnode.support import status_of

SERVICE = "openai"
SECRET = "openai-keys"
KEY_NAME, KEY = "web-frontend", secrets.token_hex(24)
#: A build of both pipelines when no earlier module built them, then Triton's start.
READY_TIMEOUT = 600
#: Idle (scaleToZeroAfter 10 s) after the 10 s rate window has forgotten the last request.
ZERO_TIMEOUT = 240
SIZE = 256


def product_png() -> bytes:
    """A disk of random colours on white: the tiny white-background segmenter finds it."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disk = (yy - SIZE // 2) ** 2 + (xx - SIZE // 2) ** 2 <= (SIZE // 5) ** 2
    photo = np.full((SIZE, SIZE, 3), 255, np.uint8)
    photo[disk] = np.random.default_rng(1).integers(0, 200, size=(int(disk.sum()), 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(photo).save(out, format="PNG")
    return out.getvalue()


def decoded(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


@pytest.fixture(scope="module")
def address(kube: KubeClient, restricted_namespace: str, scrapes: None) -> Iterator[str]:
    """The client Service's API root once the service is Ready; Prometheus scrapes it from the
    ServiceMonitors the operator renders (``scrapes``), so the autoscaler can idle it to zero."""
    kube.core.create_namespaced_secret(restricted_namespace, {
        "metadata": {"name": SECRET}, "stringData": {KEY_NAME: KEY}})
    kube.create(tiny_service(
        SERVICE, restricted_namespace, pipelines=["text2image", "photoshoot"],
        model={"source": "builtin://tiny-sdxl", "segmentationSource": "builtin://tiny-segmenter-white"},
        api={"enabled": True, "auth": {"secretRef": {"name": SECRET}}},
        autoscaling={"enabled": True, "minReplicas": 0, "maxReplicas": 1, "queueLatencyTarget": "10s",
                     "activation": {"scaleToZeroAfter": "10s"}, "scaleDown": {"stabilizationWindowSeconds": 0}}))
    try:
        kube.wait_for(API, "DiffusionService", SERVICE, restricted_namespace,
                      lambda o: status_of(o).get("phase") == "Ready", timeout=READY_TIMEOUT, what="Ready")
        service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
        yield f"http://{service.spec.cluster_ip}:8000/v1"
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(restricted_namespace)}") from None
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)
        kube.core.delete_namespaced_secret(SECRET, restricted_namespace)


def client(address: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=address, api_key=key, max_retries=0, timeout=300)


def test_the_openai_client_generates_an_image_with_the_extensions(address: str):
    result = client(address).images.generate(
        prompt="a small red circle on a blue background", size=f"{SIZE}x{SIZE}",
        extra_body={"seed": 7, "num_inference_steps": 2})
    [image] = result.data
    assert decoded(image.b64_json).size == (SIZE, SIZE)
    assert image.model_extra is not None and image.model_extra["seed"] == 7


def test_the_openai_client_edits_a_product_photo_with_the_photoshoot(address: str):
    result = client(address).images.edit(image=("product.png", product_png(), "image/png"),
                                         prompt="on a marble table", size=f"{SIZE}x{SIZE}",
                                         extra_body={"seed": 3, "num_inference_steps": 2})
    [image] = result.data
    assert decoded(image.b64_json).format == "PNG"
    assert image.model_extra is not None and image.model_extra["seed"] == 3


def test_a_request_without_a_valid_key_is_refused_by_the_activator(address: str):
    with pytest.raises(openai.AuthenticationError) as refused:
        client(address, key="not-a-key").images.generate(prompt="anything", size=f"{SIZE}x{SIZE}")
    assert refused.value.status_code == 401


def test_a_request_at_zero_is_held_and_served(address: str, kube: KubeClient, restricted_namespace: str):
    kube.wait_for("apps/v1", "Deployment", SERVICE, restricted_namespace,
                  lambda d: (d.to_dict().get("spec") or {}).get("replicas") == 0, timeout=ZERO_TIMEOUT,
                  what="scaled to zero")
    deadline = time.monotonic() + 120
    while kube.core.list_namespaced_pod(restricted_namespace, label_selector=selector_string(SERVICE)).items:
        assert time.monotonic() < deadline, "the last Triton pod never went away"
        time.sleep(1)
    started = time.monotonic()
    result = client(address).images.generate(prompt="a small red circle on a blue background",
                                             size=f"{SIZE}x{SIZE}", extra_body={"seed": 11, "num_inference_steps": 2})
    waited = time.monotonic() - started
    [image] = result.data
    assert decoded(image.b64_json).size == (SIZE, SIZE)
    assert image.model_extra is not None and image.model_extra["seed"] == 11
    deployment = kube.get("apps/v1", "Deployment", SERVICE, restricted_namespace)
    assert deployment is not None and deployment.to_dict()["spec"]["replicas"] >= 1, "the request woke the service"
    assert waited > 1.0, "answered before any Triton pod could have started: it was not held at zero"

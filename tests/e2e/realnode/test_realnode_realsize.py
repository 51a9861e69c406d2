"""Triton on the real node serves an image from the full-size SDXL repository (issue 24, item 4).

``builtin://sdxl-architecture`` (SDXL base's published configs, seeded random weights) at its real
sizes: 2.6 B-parameter UNet-XL with its 9.6 GiB of fp32 weights in external data, OpenCLIP bigG
(2.6 GiB, external data too), 77x2048 text embeddings. The fp32 CPU repository is published into
the namespace's engine cache on this machine by ``bench/engine_builder/realsize.py --publish``
(the build Job's export, repository writer and atomic publish; parity and the quality gate do not
fit this 24 GiB machine at full size, and its manifest says so). Then the product runs as it does
for any service: the build Job on the real node finds the published key (a cache hit), and Triton
from the serving image loads the repository through the rendered mounts and serves one 256x256
image at 2 steps through the Service and the BLS pipeline.

It needs about 14 GiB of RAM for Triton, 20 GiB of disk and 20 minutes, so ``make test`` skips it;
``make realsize`` runs it (``DIFFUSION_REALSIZE=1``). With ``REALSIZE_RESULTS`` set it writes its
figures there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton_http
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.names import ENGINE_CACHE_CLAIM, selector_string
from diffusion_operator.render.storage import TRITON_MODEL_REPOSITORY, build_engine_cache_claim

from testbed import paths
from testbed.cluster import Cluster
from testbed.kube import KubeClient, WaitTimeoutError
from testbed.operator_process import OperatorProcess
from testbed.provisioner import volume_path
from testbed.realnode.product import API
from tests.e2e.realnode.support import kube_exec, status_of

pytestmark = pytest.mark.skipif(
    os.environ.get("DIFFUSION_REALSIZE") != "1",
    reason="full-size SDXL on the real node needs ~14 GiB of RAM, 20 GiB of disk and ~20 min: `make realsize`")

SERVICE = "realsize"
SIZE = 256
STEPS = 2
#: The build Job's cache hit, then Triton loading 12.8 GiB of fp32 ONNX on 2 cores.
READY_TIMEOUT = 1500
#: One image: two text encoders, 2 steps of the full UNet-XL with guidance (batch 2), the VAE decode.
REQUEST_TIMEOUT_S = 900
SPEC: dict[str, Any] = {
    "model": {"source": "builtin://sdxl-architecture"},
    "engine": {"resolutions": [{"width": SIZE, "height": SIZE}], "maxBatchSize": 1,
               "qualityGate": {"enabled": False}},
    "pipeline": {"steps": STEPS},
    # fp32 weights resident in ONNX Runtime: 12.8 GiB; the limit keeps a runaway off the test bed.
    "serving": {"resources": {"requests": {"cpu": "100m", "memory": "12Gi"}, "limits": {"memory": "20Gi"}}},
}


def service_manifest(namespace: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "DiffusionService", "metadata": {"name": SERVICE, "namespace": namespace},
            "spec": SPEC}


def defaulted_spec(kube: KubeClient, namespace: str) -> DiffusionServiceSpec:
    """The spec as the API server stores it (CRD defaults applied), from a server-side dry run: the
    operator plans from exactly this, so the cache key computed here is the one its Job looks for."""
    created = kube.resource(API, "DiffusionService").create(body=service_manifest(namespace), namespace=namespace,
                                                           dry_run="All")
    return DiffusionServiceSpec.model_validate(created.to_dict()["spec"])


def engine_cache_dir(kube: KubeClient, cluster: Cluster, namespace: str) -> Path:
    """The namespace's engine cache claim (the one the operator renders), bound, and its host directory."""
    claim = build_engine_cache_claim(namespace, RenderSettings())
    if kube.get("v1", "PersistentVolumeClaim", ENGINE_CACHE_CLAIM, namespace) is None:
        kube.create(claim)
    bound = kube.wait_for("v1", "PersistentVolumeClaim", ENGINE_CACHE_CLAIM, namespace,
                          lambda o: (o.status or {}).get("phase") == "Bound", timeout=60, what="Bound")
    return volume_path(cluster.volumes_dir, bound.to_dict())


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, Any]]:
    collected: dict[str, Any] = {}
    yield collected
    if target := os.environ.get("REALSIZE_RESULTS"):
        Path(target).write_text(json.dumps(collected, indent=2) + "\n")


@pytest.fixture(scope="module")
def published(kube: KubeClient, cluster: Cluster, restricted_namespace: str, figures: dict[str, Any],
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    plan = plan_for(defaulted_spec(kube, restricted_namespace), "none", "onnxruntime")
    plan_file = tmp_path_factory.mktemp("realsize") / "plan.json"
    plan_file.write_text(plan.model_dump_json())
    cache = engine_cache_dir(kube, cluster, restricted_namespace)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(paths.REPO_ROOT / "bench" / "engine_builder" / "realsize.py"),
                           "--publish", str(plan_file), str(cache)],
                          capture_output=True, text=True, timeout=3600, check=False)
    assert done.returncode == 0, f"publishing the full-size repository failed:\n{done.stderr[-4000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    figures["publish"] = {**result, "seconds": round(time.monotonic() - started, 1)}
    assert result["cache_key"] == plan.cache_key()
    return result


@pytest.fixture(scope="module")
def ready_service(kube: KubeClient, restricted_namespace: str, realnode_operator: OperatorProcess,
                  published: dict[str, Any], figures: dict[str, Any]) -> Iterator[Any]:
    started = time.monotonic()
    kube.create(service_manifest(restricted_namespace))
    try:
        ready = kube.wait_for(API, "DiffusionService", SERVICE, restricted_namespace,
                              lambda o: status_of(o).get("phase") == "Ready", timeout=READY_TIMEOUT, what="Ready")
        figures["ready_seconds"] = round(time.monotonic() - started, 1)
        yield ready
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(restricted_namespace)}") from None
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)


def memory_high_water_gib(kube: KubeClient, namespace: str, pod: Any) -> float:
    """The Triton container's memory high-water mark from its cgroup (page cache included: the
    mapped external data counts), cgroup v2 or v1 (this machine's kubelet runs on v1)."""
    read = "cat /sys/fs/cgroup/memory.peak 2>/dev/null || cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes"
    peak = kube_exec(kube, namespace, pod.metadata.name, ["sh", "-c", read])
    return round(int(peak.strip()) / 2**30, 2)


def memory_anonymous_gib(kube: KubeClient, namespace: str, pod: Any) -> float:
    """The container's anonymous memory now (v1 ``total_rss``, v2 ``anon``): ONNX Runtime's own copies,
    without the page cache of the mapped weights, which the kernel can drop under pressure."""
    read = ("cat /sys/fs/cgroup/memory.stat 2>/dev/null || cat /sys/fs/cgroup/memory/memory.stat")
    stat = dict(line.split() for line in kube_exec(kube, namespace, pod.metadata.name, ["sh", "-c", read]).splitlines()
                if line.count(" ") == 1)
    return round(int(stat.get("anon", stat.get("total_rss", "0"))) / 2**30, 2)


def triton_pod(kube: KubeClient, namespace: str) -> Any:
    [pod] = kube.core.list_namespaced_pod(namespace, label_selector=selector_string(SERVICE)).items
    return pod


def test_the_build_job_found_the_published_full_size_key(ready_service: Any, published: dict[str, Any]):
    engine = status_of(ready_service)["engine"]
    assert engine["cacheKey"] == engine["servingCacheKey"] == published["cache_key"]
    assert engine["state"] == "Succeeded"
    assert published["repository_gib"] > 12  # fp32 SDXL: 9.6 GiB UNet, 2.6 GiB bigG, CLIP-L, the VAE


def test_triton_loaded_the_real_sizes_from_external_data(kube: KubeClient, restricted_namespace: str,
                                                         ready_service: Any, figures: dict[str, Any]):
    pod = triton_pod(kube, restricted_namespace)
    listing = kube_exec(kube, restricted_namespace, pod.metadata.name,
                        ["ls", "-l", f"{TRITON_MODEL_REPOSITORY}/unetxl/1", f"{TRITON_MODEL_REPOSITORY}/clip2/1"])
    data_files = [line.split() for line in listing.splitlines() if line.endswith("model.onnx.data")]
    assert len(data_files) == 2, listing  # both over protobuf's 2 GB: weights beside the graph
    assert all(int(fields[4]) > 2 * 10**9 for fields in data_files), listing
    service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
    client = triton_http.InferenceServerClient(f"{service.spec.cluster_ip}:8000")
    try:
        unet = {i["name"]: [int(d) for d in i["dims"]] for i in client.get_model_config("unetxl")["input"]}
        clip2 = {o["name"]: [int(d) for d in o["dims"]] for o in client.get_model_config("clip2")["output"]}
    finally:
        client.close()
    assert unet["encoder_hidden_states"][-2:] == [77, 2048]  # CLIP-L 768 + bigG 1280
    assert unet["text_embeds"][-1] == 1280 and unet["time_ids"][-1] == 6
    assert clip2["text_embeddings"][-1] == 1280 and clip2["hidden_states"][-2:] == [77, 1280]
    figures["triton_memory_peak_gib_after_load"] = memory_high_water_gib(kube, restricted_namespace, pod)


def test_an_image_comes_back_from_the_full_size_pipeline(kube: KubeClient, restricted_namespace: str,
                                                         ready_service: Any, figures: dict[str, Any]):
    service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
    client = TritonClient(Endpoint.parse(f"{service.spec.cluster_ip}:8000"), timeout_s=REQUEST_TIMEOUT_S)
    started = time.monotonic()
    try:
        client.check_ready()
        generated = client.generate(ImageRequest(prompt="a lighthouse at dawn", seed=7, width=SIZE, height=SIZE))
    finally:
        client.close()
    figures["image_seconds"] = round(time.monotonic() - started, 1)
    assert generated.image.shape == (SIZE, SIZE, 3)
    assert generated.seed == 7
    assert np.isfinite(generated.image).all() and generated.image.std() > 0  # a real decode, not a blank canvas
    pod = triton_pod(kube, restricted_namespace)
    figures["triton_memory_peak_gib"] = memory_high_water_gib(kube, restricted_namespace, pod)
    figures["triton_anonymous_memory_gib"] = memory_anonymous_gib(kube, restricted_namespace, pod)
    figures["request"] = {"size": SIZE, "steps": STEPS, "guidance": True}
    assert pod.status.container_statuses[0].restart_count == 0

"""A DiffusionService on the real node: the build Job and Triton run as containers from the product's
own images, in a namespace enforcing Pod Security ``restricted``, and an image comes back through
the Service.

One service is built once for the module (a real build takes tens of seconds on 2 cores); each test
then checks one thing a user relies on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.names import engine_job_name, selector_string
from diffusion_operator.render.storage import TRITON_MODEL_REPOSITORY
from kubernetes.stream import stream

from testbed.kube import KubeClient, WaitTimeoutError, condition
from testbed.operator_process import OperatorProcess
from testbed.realnode import RealNode
from testbed.realnode.product import API, IMAGES, tiny_service

SERVICE = "tiny"
#: Build (export + parity + publish) plus Triton's start, on 2 shared cores.
READY_TIMEOUT = 420


def status_of(obj: Any) -> dict:
    return obj.to_dict().get("status") or {}


@pytest.fixture(scope="module")
def ready_service(kube: KubeClient, restricted_namespace: str, realnode_operator: OperatorProcess) -> Iterator[Any]:
    kube.create(tiny_service(SERVICE, restricted_namespace))
    try:
        yield kube.wait_for(API, "DiffusionService", SERVICE, restricted_namespace,
                            lambda o: status_of(o).get("phase") == "Ready", timeout=READY_TIMEOUT, what="Ready")
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(restricted_namespace)}") from None
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)  # its GPU goes back to the suite


def pods(kube: KubeClient, namespace: str, selector: str) -> list[Any]:
    return kube.core.list_namespaced_pod(namespace, label_selector=selector).items


def test_the_build_job_ran_as_a_container_on_the_real_node_and_its_summary_reached_status(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, real_node: RealNode):
    engine = status_of(ready_service)["engine"]
    job = engine_job_name(engine["cacheKey"])
    pods = kube.core.list_namespaced_pod(restricted_namespace, label_selector=f"batch.kubernetes.io/job-name={job}")
    [build] = [pod for pod in pods.items if pod.status.phase == "Succeeded"]
    assert build.spec.node_name == real_node.name
    assert build.spec.containers[0].image == IMAGES["engine-builder"]
    terminated = build.status.container_statuses[0].state.terminated
    assert terminated is not None and terminated.exit_code == 0
    summary = json.loads(terminated.message)  # the builder's one-line JSON summary, as the kubelet kept it
    assert summary["cache_key"] == engine["cacheKey"] == engine["servingCacheKey"]
    assert engine["state"] == "Succeeded"
    assert engine["tensorrtVersion"] == summary["tensorrt_version"] == "none"  # the CPU backend builds no engines
    assert engine["computeCapability"] == str(summary["compute_capability"]) == "8.9"  # the L4's, from the plan
    assert engine["message"] == summary["message"]
    assert condition(ready_service, "EngineReady") == "True"


def test_triton_serves_from_the_serving_image_with_the_rendered_mounts_and_probes(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, real_node: RealNode):
    [pod] = pods(kube, restricted_namespace, selector_string(SERVICE))
    assert pod.spec.node_name == real_node.name
    container = pod.status.container_statuses[0]
    assert container.ready and container.image == IMAGES["triton-sdxl"]
    assert container.restart_count == 0  # the startup probe held liveness off while the models loaded
    mounts = kube_exec(kube, restricted_namespace, pod.metadata.name, ["cat", "/proc/self/mounts"])
    shm = next(line for line in mounts.splitlines() if " /dev/shm " in line)
    assert shm.startswith("tmpfs ")  # the Memory-backed emptyDir, not the runtime's 64 MiB default
    repository = next(line for line in mounts.splitlines() if f" {TRITON_MODEL_REPOSITORY} " in line)
    assert repository.split()[3].split(",")[0] == "ro"  # the engine-cache subPath, mounted read-only


def test_an_image_comes_back_through_the_service(kube: KubeClient, restricted_namespace: str, ready_service: Any):
    service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
    client = TritonClient(Endpoint.parse(f"{service.spec.cluster_ip}:8000"), timeout_s=120)
    try:
        client.check_ready()
        generated = client.generate(ImageRequest(prompt="a lighthouse at dawn", seed=7, width=256, height=256))
    finally:
        client.close()
    assert generated.image.shape == (256, 256, 3)
    assert generated.image.std() > 0  # a real decode of real latents, not a blank canvas
    assert generated.seed == 7


def kube_exec(kube: KubeClient, namespace: str, pod: str, command: list[str]) -> str:
    return str(stream(kube.core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
                      stderr=True, stdin=False, stdout=True, tty=False))

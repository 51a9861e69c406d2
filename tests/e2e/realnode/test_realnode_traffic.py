"""Traffic through the Service while the fleet changes under it, on real Triton pods.

A closed-loop client keeps requests in flight (a fresh connection each, as kube-proxy balances
connections) while pods are added, removed and replaced by an engine switch. What a user must see:
new pods take traffic as soon as they are Ready, and not one request fails because a pod went away.
The tests run in order on one service.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.names import selector_string

from testbed.kube import KubeClient, WaitTimeoutError
from testbed.load import ImageTraffic
from testbed.operator_process import OperatorProcess
from testbed.realnode.product import API, tiny_service
from tests.e2e.realnode.support import service_waiter, status_of

SERVICE = "traffic"
#: A cache hit when the serving suite built the same engine first; a build otherwise.
READY_TIMEOUT = 420
#: Requests the client must complete in each phase for the phase to count as "under load".
MIN_REQUESTS = 5


def triton_pods(kube: KubeClient, namespace: str) -> list[Any]:
    return list(kube.core.list_namespaced_pod(namespace, label_selector=selector_string(SERVICE)).items)


def ready_pods(kube: KubeClient, namespace: str) -> list[Any]:
    return [p for p in triton_pods(kube, namespace) if p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


def served(pod: Any) -> int:
    """Requests the ``sdxl`` model of this pod has completed (Triton's statistics, by pod IP)."""
    client = TritonClient(Endpoint.parse(f"{pod.status.pod_ip}:8000"), timeout_s=10)
    try:
        return client.statistics().success_count
    finally:
        client.close()


wait = service_waiter(SERVICE)


def wait_pods(kube: KubeClient, namespace: str, count: int, timeout: float = 300) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = ready_pods(kube, namespace)
        terminating = [p for p in triton_pods(kube, namespace) if p.metadata.deletion_timestamp is not None]
        if len(pods) == count and not terminating:
            return pods
        time.sleep(1)
    raise WaitTimeoutError(f"never {count} ready Triton pods and none terminating\n{kube.dump_pods(namespace)}")


@pytest.fixture(scope="module")
def address(kube: KubeClient, restricted_namespace: str, realnode_operator: OperatorProcess) -> Iterator[str]:
    kube.create(tiny_service(SERVICE, restricted_namespace, replicas=1))
    try:
        wait(kube, restricted_namespace, lambda o: status_of(o).get("phase") == "Ready", "Ready", READY_TIMEOUT)
        service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
        yield f"{service.spec.cluster_ip}:8000"
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)  # its GPUs go back to the suite


def patch_spec(kube: KubeClient, namespace: str, spec: dict[str, Any]) -> None:
    kube.resource(API, "DiffusionService").patch(name=SERVICE, namespace=namespace, body={"spec": spec},
                                                 content_type="application/merge-patch+json")


def scale(kube: KubeClient, namespace: str, replicas: int) -> None:
    patch_spec(kube, namespace, {"replicas": replicas})


def test_a_new_pod_takes_traffic_as_soon_as_it_is_ready(kube: KubeClient, restricted_namespace: str, address: str):
    [first] = wait_pods(kube, restricted_namespace, 1)
    with ImageTraffic(address, workers=3) as traffic:
        scale(kube, restricted_namespace, 2)
        pods = wait_pods(kube, restricted_namespace, 2)
        [new] = [p for p in pods if p.metadata.name != first.metadata.name]
        before = served(new)
        deadline = time.monotonic() + 60
        while served(new) - before < MIN_REQUESTS and time.monotonic() < deadline:
            time.sleep(1)
    assert served(new) - before >= MIN_REQUESTS, f"the new pod served {served(new) - before} requests in 60 s"
    assert traffic.failures == [], traffic.failures[:5]


def test_scaling_down_under_load_fails_no_request(kube: KubeClient, restricted_namespace: str, address: str):
    wait_pods(kube, restricted_namespace, 2)
    with ImageTraffic(address, workers=3) as traffic:
        time.sleep(3)
        scale(kube, restricted_namespace, 1)
        wait_pods(kube, restricted_namespace, 1)
        started = traffic.ok
        while traffic.ok - started < MIN_REQUESTS:
            time.sleep(0.5)
    assert traffic.ok >= MIN_REQUESTS
    assert traffic.failures == [], traffic.failures[:5]


def test_an_engine_switch_under_load_fails_no_request(kube: KubeClient, restricted_namespace: str, address: str):
    before = status_of(kube.get(API, "DiffusionService", SERVICE, restricted_namespace))["engine"]["servingCacheKey"]
    with ImageTraffic(address, workers=2) as traffic:
        patch_spec(kube, restricted_namespace, {"engine": {"maxBatchSize": 3}})  # an engine input: a new key
        switched = wait(kube, restricted_namespace,
                        lambda o: status_of(o).get("engine", {}).get("servingCacheKey") not in (None, before)
                        and status_of(o).get("phase") == "Ready", "engine switched", READY_TIMEOUT)
        wait_pods(kube, restricted_namespace, 1)
        started = traffic.ok
        while traffic.ok - started < MIN_REQUESTS:
            time.sleep(0.5)
    engine = status_of(switched)["engine"]
    assert engine["servingCacheKey"] == engine["cacheKey"] != before
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ok >= 2 * MIN_REQUESTS

"""Scale to zero on real pods: ``minReplicas: 0`` alone puts the activator in front of Triton.

One service for the module, tests in order: it idles to zero; 20 concurrent requests sent at zero
all come back; a flood at zero meets the queue limit (429s, not memory); an activator pod killed
while holding requests loses none; a scale-down and an engine switch under a continuous client
through the activator lose none. Prometheus scrapes Triton and the activator from the ServiceMonitors
the operator renders (``testbed.servicemonitors`` plays the Prometheus Operator), so the autoscaler
wakes on the activator's held count exactly as in a cluster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.names import selector_string

from testbed.kube import KubeClient, WaitTimeoutError
from testbed.load import ImageTraffic
from testbed.realnode.product import API, tiny_service
from tests.e2e.realnode.conftest import ACTIVATOR_QUEUE_LIMIT
from tests.e2e.realnode.support import status_of

SERVICE = "zero"
#: A build when no earlier module built the tiny engine, then Triton's start.
READY_TIMEOUT = 420
#: Idle (scaleToZeroAfter 10 s) after the 10 s rate window has forgotten the last request.
ZERO_TIMEOUT = 180
AUTOSCALING = {"enabled": True, "minReplicas": 0, "maxReplicas": 2, "queueLatencyTarget": "10s",
               "activation": {"scaleToZeroAfter": "10s"}, "scaleDown": {"stabilizationWindowSeconds": 0}}
ACTIVATOR_SELECTOR = f"app.kubernetes.io/name=activator,app.kubernetes.io/instance={SERVICE}"
REQUEST = ImageRequest(prompt="a lighthouse at dawn", width=256, height=256)

log = logging.getLogger(__name__)


def dump(kube: KubeClient, namespace: str, message: str) -> WaitTimeoutError:
    """The pods, what the autoscaler last decided, and what Prometheus scrapes."""
    return WaitTimeoutError(f"{message}\n{explain(kube, namespace)}")


def explain(kube: KubeClient, namespace: str) -> str:
    """What the autoscaler last decided, Prometheus' targets, and every pod's last termination."""
    service = kube.get(API, "DiffusionService", SERVICE, namespace)
    status = status_of(service) if service is not None else {}
    scaling = {key: value for key, value in (status.get("autoscaling") or {}).items() if key != "history"}
    targets = ""
    with contextlib.suppress(Exception):
        url = (kube.kubeconfig.parent / "prometheus.url").read_text().strip()
        with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as response:
            active = json.loads(response.read())["data"]["activeTargets"]
        targets = "\n".join(f"  {t['labels'].get('job')} {t['scrapeUrl']} {t['health']} {t.get('lastError', '')}"
                             for t in active)
    ended = [f"  {pod.metadata.name}: restarts {c.restart_count}, last {c.last_state.terminated}"
             for pod in kube.core.list_namespaced_pod(namespace).items for c in pod.status.container_statuses or []
             if c.restart_count]
    # The operator's own words about this service's ticks (its log is the suite operator's, by name).
    operator_log = kube.kubeconfig.parent / "logs" / f"operator-{namespace}.log"
    said = [line for line in (operator_log.read_text(errors="replace").splitlines() if operator_log.exists() else [])
            if f"{namespace}/{SERVICE}" in line or "autoscal" in line.lower() or "Traceback" in line][-40:]
    return (f"autoscaling: {scaling}\nscrape targets:\n{targets}\nrestarted containers:\n" + "\n".join(ended)
            + "\noperator log (this service, the autoscaler):\n" + "\n".join(said)
            + f"\n{kube.dump_pods(namespace)}")


def ready(pod: Any) -> bool:
    return pod.metadata.deletion_timestamp is None and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def pods(kube: KubeClient, namespace: str, selector: str) -> list[Any]:
    return list(kube.core.list_namespaced_pod(namespace, label_selector=selector).items)


def wait_until(kube: KubeClient, namespace: str, predicate: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise dump(kube, namespace, f"never {what} within {timeout:.0f}s")


def triton_count(kube: KubeClient, namespace: str) -> tuple[int, int]:
    """(spec.replicas of the Triton Deployment, Triton pods that exist)."""
    deployment = kube.get("apps/v1", "Deployment", SERVICE, namespace)
    replicas = int(((deployment.to_dict() if deployment is not None else {}).get("spec") or {}).get("replicas") or 0)
    return replicas, len(pods(kube, namespace, selector_string(SERVICE)))


def wait_at_zero(kube: KubeClient, namespace: str) -> None:
    wait_until(kube, namespace, lambda: triton_count(kube, namespace) == (0, 0), "scaled to zero", ZERO_TIMEOUT)


def held(pod: Any) -> float:
    with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8002/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("diffusion_activator_held_requests "):
                return float(line.split()[1])
    raise AssertionError("the activator exports no held count")


def held_everywhere(kube: KubeClient, namespace: str) -> list[float]:
    return [held(pod) for pod in pods(kube, namespace, ACTIVATOR_SELECTOR) if ready(pod)]


def generate(address: str, retries: int = 0) -> tuple[bool, list[str], float]:
    """One request on a fresh connection; retried on a retryable answer. (ok, errors seen, seconds)."""
    errors: list[str] = []
    started = time.monotonic()
    for _ in range(retries + 1):
        client = TritonClient(Endpoint.parse(address), timeout_s=300)
        try:
            client.generate(REQUEST)
            return True, errors, time.monotonic() - started
        except Exception as err:  # every answer is a finding
            errors.append(f"{type(err).__name__}: {err}")
            if "retry" not in str(err):
                break
        finally:
            client.close()
    return False, errors, time.monotonic() - started


@pytest.fixture(scope="module")
def address(kube: KubeClient, restricted_namespace: str, scrapes: None) -> Iterator[str]:
    """The client Service (what users call), once the engine is built and both activators are Ready."""
    namespace = restricted_namespace
    kube.create(tiny_service(SERVICE, namespace, autoscaling=AUTOSCALING))
    try:
        try:
            kube.wait_for(API, "DiffusionService", SERVICE, namespace,
                          lambda o: (status_of(o).get("engine") or {}).get("servingCacheKey") is not None,
                          timeout=READY_TIMEOUT, what="an engine served")
        except WaitTimeoutError as err:
            raise dump(kube, namespace, str(err)) from None
        wait_until(kube, namespace, lambda: sum(map(ready, pods(kube, namespace, ACTIVATOR_SELECTOR))) == 2,
                   "2 activator pods Ready", 180)
        service = kube.core.read_namespaced_service(SERVICE, namespace)
        yield f"{service.spec.cluster_ip}:8000"
    finally:
        kube.delete(API, "DiffusionService", SERVICE, namespace)  # its GPUs go back to the suite


def test_the_client_service_fronts_the_activator_and_the_idle_service_scales_to_zero(
        kube: KubeClient, restricted_namespace: str, address: str):
    service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
    assert service.spec.selector["app.kubernetes.io/name"] == "activator"
    backend = kube.core.read_namespaced_service(f"{SERVICE}-backend", restricted_namespace)
    assert backend.spec.selector["app.kubernetes.io/name"] == "triton"
    wait_at_zero(kube, restricted_namespace)


def test_twenty_concurrent_requests_sent_at_zero_all_succeed(kube: KubeClient, restricted_namespace: str,
                                                             address: str):
    wait_at_zero(kube, restricted_namespace)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: generate(address), range(20)))
    failures = [errors for ok, errors, _ in results if not ok]
    assert failures == [], f"{failures[:3]}\n{explain(kube, restricted_namespace)}"
    first = min(seconds for _, _, seconds in results)
    print(f"\n20 requests at zero: first image after {first:.1f}s, last after "
          f"{max(seconds for _, _, seconds in results):.1f}s")
    assert first > 1.0, "the first request was answered before any Triton pod could have started"


def test_a_flood_at_zero_is_bounded_by_the_queue_limit_with_429s(kube: KubeClient, restricted_namespace: str,
                                                                  address: str):
    wait_at_zero(kube, restricted_namespace)
    flood = 4 * ACTIVATOR_QUEUE_LIMIT + 16
    peak: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                peak.extend(held_everywhere(kube, restricted_namespace))
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(flood) as pool:
        results = list(pool.map(lambda _: generate(address), range(flood)))
    stop.set()
    watcher.join(5)
    refused = [errors[0] for ok, errors, _ in results if not ok and "queue limit" in errors[0]]
    other = [errors for ok, errors, _ in results if not ok and "queue limit" not in errors[0]]
    served = sum(ok for ok, _, _ in results)
    assert other == [], other[:3]
    assert len(refused) >= flood - 2 * ACTIVATOR_QUEUE_LIMIT, (len(refused), served)
    assert served >= 1 and served + len(refused) == flood
    assert f"diffusion service {restricted_namespace}/{SERVICE}" in refused[0] and "retry" in refused[0]
    assert peak and max(peak) <= ACTIVATOR_QUEUE_LIMIT, f"an activator held {max(peak)} requests"


def test_an_activator_killed_while_holding_requests_loses_none(kube: KubeClient, restricted_namespace: str,
                                                               address: str):
    namespace = restricted_namespace
    wait_at_zero(kube, namespace)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(generate, address, 1) for _ in range(8)]
        wait_until(kube, namespace, lambda: sum(held_everywhere(kube, namespace)) == 8, "8 requests held", 30)
        holding = [pod for pod in pods(kube, namespace, ACTIVATOR_SELECTOR) if ready(pod) and held(pod) > 0]
        victim = holding[0]
        kube.core.delete_namespaced_pod(victim.metadata.name, namespace)
        results = [future.result(timeout=300) for future in futures]
    assert [errors for ok, errors, _ in results if not ok] == []
    retried = [errors[0] for ok, errors, _ in results if errors]
    assert all("shutting down" in error and "retry" in error for error in retried), retried
    print(f"\nactivator {victim.metadata.name} killed while holding requests: {len(retried)} answered 'retry' "
          f"and succeeded on the other replica, 0 lost")


def scale_to_two(kube: KubeClient, namespace: str) -> None:
    kube.resource(API, "DiffusionService").patch(name=SERVICE, namespace=namespace, body={"spec": {
        "autoscaling": {"queueLatencyTarget": "100ms"}}}, content_type="application/merge-patch+json")


def test_a_scale_down_under_a_continuous_client_through_the_activator_loses_none(
        kube: KubeClient, restricted_namespace: str, address: str):
    namespace = restricted_namespace
    with ImageTraffic(address, workers=4) as traffic:
        scale_to_two(kube, namespace)  # a queue target the load exceeds: the autoscaler goes to maxReplicas
        wait_until(kube, namespace, lambda: sum(map(ready, pods(kube, namespace, selector_string(SERVICE)))) == 2,
                   "2 Triton pods Ready under load", 240)
        kube.resource(API, "DiffusionService").patch(name=SERVICE, namespace=namespace, body={"spec": {
            "autoscaling": {"maxReplicas": 1}}}, content_type="application/merge-patch+json")
        wait_until(kube, namespace, lambda: triton_count(kube, namespace) == (1, 1), "scaled down to 1", 180)
        started = traffic.ok
        while traffic.ok - started < 5:
            time.sleep(0.5)
    assert traffic.failures == [], traffic.failures[:5]
    print(f"\nscale-down 2 -> 1 through the activator: {traffic.ok} requests, 0 failed")


def test_an_engine_switch_under_a_continuous_client_through_the_activator_loses_none(
        kube: KubeClient, restricted_namespace: str, address: str):
    namespace = restricted_namespace
    before = status_of(kube.get(API, "DiffusionService", SERVICE, namespace))["engine"]["servingCacheKey"]
    with ImageTraffic(address, workers=2) as traffic:
        kube.resource(API, "DiffusionService").patch(name=SERVICE, namespace=namespace, body={"spec": {
            "engine": {"maxBatchSize": 3}}}, content_type="application/merge-patch+json")
        kube.wait_for(API, "DiffusionService", SERVICE, namespace,
                      lambda o: status_of(o).get("engine", {}).get("servingCacheKey") not in (None, before)
                      and status_of(o).get("phase") == "Ready", timeout=READY_TIMEOUT, what="engine switched")
        wait_until(kube, namespace, lambda: not any(p.metadata.deletion_timestamp for p in
                                                    pods(kube, namespace, selector_string(SERVICE))),
                   "the old pods gone", 180)
        started = traffic.ok
        while traffic.ok - started < 5:
            time.sleep(0.5)
    assert traffic.failures == [], traffic.failures[:5]
    print(f"\nengine switch through the activator: {traffic.ok} requests, 0 failed")

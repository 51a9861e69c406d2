"""The real HPA scales on the Triton chart's queue metric through the metrics adapter.

kube-controller-manager's HorizontalPodAutoscaler reads a Pods metric from
``custom.metrics.k8s.io``, which the adapter (tools/gobin/metrics-adapter) answers from the test
bed's Prometheus with the k8s-onprem chart's query. The series are synthetic: an exporter on
loopback plays Triton's two counters for each pod of a Deployment on kwok nodes, labelled with the
pods' real namespace and names (as Kubernetes service discovery would label them), at a queue time
far above the chart's 50 µs target. A second metric matches no series: its HPA must hold.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.utils import parse_quantity
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from testbed.metrics_adapter import (
    API_GROUP,
    API_VERSION,
    TRITON_CHART_QUEUE_QUERY,
    pods_metric_hpa,
    start_metrics_adapter,
)
from testbed.processes import free_port
from testbed.prometheus import write_targets

METRIC = "queue_duration_us_per_request"
#: A metric whose query matches no series (a model nobody serves): the HPA must not act on it.
MISSING = "queue_duration_us_unserved_model"
NO_SERIES = 'sum(nv_inference_queue_duration_us{<<.LabelMatchers>>,model="not-served"}) by (<<.GroupBy>>)'
WINDOW_S = 10
QUEUE_US_PER_REQUEST = 1000.0
REQUESTS_PER_S = 10.0
#: What the chart's ratio reads over the window: delta(queue) / (1 + delta(success)).
EXPECTED_US = QUEUE_US_PER_REQUEST * REQUESTS_PER_S * WINDOW_S / (1 + REQUESTS_PER_S * WINDOW_S)
TARGET_US = 50  # the k8s-onprem chart's AverageValue target
MAX_REPLICAS = 4


class SyntheticTriton(Collector):
    """Triton's queue counters for each pod the test lists: they grow at a fixed rate from the moment
    a pod is first seen (exposed untyped-as-gauge: only the names and labels matter to PromQL)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.first_seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def set_pods(self, pods: list[str]) -> None:
        with self.lock:
            now = time.time()
            self.first_seen = {pod: self.first_seen.get(pod, now) for pod in pods}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["namespace", "pod", "model", "version"]
        queue = GaugeMetricFamily("nv_inference_queue_duration_us", "queue time (synthetic)", labels=labels)
        success = GaugeMetricFamily("nv_inference_request_success", "requests (synthetic)", labels=labels)
        now = time.time()
        with self.lock:
            for pod, since in self.first_seen.items():
                key = [self.namespace, pod, "sdxl", "1"]
                success.add_metric(key, (now - since) * REQUESTS_PER_S)
                queue.add_metric(key, (now - since) * REQUESTS_PER_S * QUEUE_US_PER_REQUEST)
        yield queue
        yield success


@pytest.fixture
def synthetic_triton(cluster: Cluster, kube: KubeClient, namespace: str) -> Iterator[SyntheticTriton]:
    """The exporter, scraped by the test bed's Prometheus, following the namespace's pods."""
    collector = SyntheticTriton(namespace)
    registry = CollectorRegistry()
    registry.register(collector)
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    targets = write_targets(cluster.targets_dir, f"synthetic-{namespace}", [f"127.0.0.1:{port}"], {})
    stop = threading.Event()

    def follow_pods() -> None:
        while not stop.wait(0.5):
            pods = kube.core.list_namespaced_pod(namespace, label_selector="app=web").items
            collector.set_pods([p.metadata.name for p in pods if p.status.phase == "Running"])

    follower = threading.Thread(target=follow_pods, daemon=True)
    follower.start()
    yield collector
    stop.set()
    follower.join(timeout=5)
    targets.unlink(missing_ok=True)
    server.shutdown()


def custom_metric(kubectl: str, cluster: Cluster, namespace: str, metric: str) -> list[dict[str, Any]]:
    raw = subprocess.run(
        [kubectl, f"--kubeconfig={cluster.kubeconfig}", "get", "--raw",
         f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/pods/*/{metric}"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    return list(json.loads(raw)["items"])


def deployment(name: str, namespace: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "triton", "image": "nvcr.io/nvidia/tritonserver:24.10-py3"}]},
        }},
    }


def hpa_condition(kube: KubeClient, namespace: str, name: str, type_: str) -> dict[str, Any]:
    hpa = kube.get("autoscaling/v2", "HorizontalPodAutoscaler", name, namespace)
    found = [c for c in (hpa.to_dict().get("status") or {}).get("conditions") or [] if c["type"] == type_]
    return dict(found[0]) if found else {}


def test_the_real_hpa_scales_a_deployment_on_the_chart_queue_metric_and_holds_without_data(
    cluster: Cluster, kube: KubeClient, namespace: str, kubectl_binary: str, synthetic_triton: SyntheticTriton
) -> None:
    prometheus_url = cluster.start_prometheus()
    for name in ("web", "idle"):
        kube.create(deployment(name, namespace))
        kube.wait_for("apps/v1", "Deployment", name, namespace, lambda d: d.status.readyReplicas == 1,
                      what="1 ready", timeout=60)

    started = time.monotonic()
    adapter = start_metrics_adapter(cluster, prometheus_url, {METRIC: TRITON_CHART_QUEUE_QUERY, MISSING: NO_SERIES},
                                    window=f"{WINDOW_S}s")
    try:
        print(f"\nadapter: started and APIService Available in {time.monotonic() - started:.1f} s "
              f"(Available {adapter.available_after:.1f} s after registration)")

        # (a) the aggregated API answers per pod, with the chart's ratio over the window.
        deadline, items = time.monotonic() + 60, []
        while time.monotonic() < deadline and not items:
            items = custom_metric(kubectl_binary, cluster, namespace, METRIC)
            time.sleep(0.5)
        web_pods = [p.metadata.name for p in kube.core.list_namespaced_pod(namespace, label_selector="app=web").items]
        assert [i["describedObject"]["name"] for i in items] == web_pods, items
        assert items[0]["metric"]["name"] == METRIC
        assert items[0]["describedObject"]["kind"] == "Pod"
        value = float(parse_quantity(items[0]["value"]))
        assert 0.8 * EXPECTED_US < value < 1.1 * EXPECTED_US, (value, EXPECTED_US)
        assert custom_metric(kubectl_binary, cluster, namespace, MISSING) == []  # no series: no value, not 0

        # (b) kube-controller-manager's HPA reads it and scales up: 990 µs per pod against 50. The
        # other HPA's metric has no series: it must hold its Deployment, saying why.
        kube.create(pods_metric_hpa("web", namespace, "web", METRIC, TARGET_US, max_replicas=MAX_REPLICAS))
        kube.create(pods_metric_hpa("idle", namespace, "idle", MISSING, TARGET_US, max_replicas=MAX_REPLICAS))
        created = time.monotonic()
        kube.wait_for("apps/v1", "Deployment", "web", namespace, lambda d: d.spec.replicas > 1,
                      what="scaled up by the HPA", timeout=120)
        reacted = time.monotonic() - created
        hpa = kube.wait_for("autoscaling/v2", "HorizontalPodAutoscaler", "web", namespace,
                            lambda h: condition(h, "ScalingActive") == "True" and h.status.currentMetrics,
                            what="ScalingActive with a current metric", timeout=30)
        current = hpa.status.currentMetrics[0].pods
        print(f"HPA: scaled 1 -> {kube.get('apps/v1', 'Deployment', 'web', namespace).spec.replicas} "
              f"{reacted:.1f} s after it was created; current {current.metric.name} = {current.current.averageValue}")
        assert current.metric.name == METRIC
        assert float(parse_quantity(current.current.averageValue)) > TARGET_US
        kube.wait_for("apps/v1", "Deployment", "web", namespace, lambda d: d.spec.replicas == MAX_REPLICAS,
                      what=f"{MAX_REPLICAS} replicas (desired ceil(990/50) clamped)", timeout=60)

        kube.wait_for("autoscaling/v2", "HorizontalPodAutoscaler", "idle", namespace,
                      lambda h: condition(h, "ScalingActive") == "False", what="ScalingActive=False", timeout=60)
        held = hpa_condition(kube, namespace, "idle", "ScalingActive")
        assert held["reason"] == "FailedGetPodsMetric", held
        assert kube.get("apps/v1", "Deployment", "idle", namespace).spec.replicas == 1
    finally:
        adapter.stop()

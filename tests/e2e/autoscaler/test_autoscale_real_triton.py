"""The autoscaler end to end: real Triton under load, real Prometheus, the operator on the test bed.

The Triton Deployment's pods are kwok's (no GPUs here); the one real CPU Triton process stands in for
them: Prometheus scrapes it with the labels a ServiceMonitor would give the service's pods, so the
operator reads exactly the series it would read in a cluster. Scaling up adds fake pods, not real
capacity, so once the load stops the queue drains and the scaler must come back down by itself.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from diffusion_operator.metrics.promql import TritonScope, queue_latency_seconds

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from testbed.prometheus import static_scrape
from tests.e2e.support import API, phase_is, start_operator

MODELS = Path(__file__).resolve().parents[2] / "integration" / "metrics" / "models"
TARGET_S = 0.1
WINDOW_S = 10
CLIENTS = 8
SCRAPE_S, TICK_S = 1.0, 2.0


def load(url: str, stop: threading.Event) -> None:
    client = httpclient.InferenceServerClient(url)
    data = np.ones((1, 4), dtype=np.float32)
    request = httpclient.InferInput("INPUT", list(data.shape), "FP32")
    request.set_data_from_numpy(data)
    deadline = time.monotonic() + 120  # bounded even if the test hangs
    while not stop.is_set() and time.monotonic() < deadline:
        client.infer("slow", [request])


@pytest.mark.timeout(400)
def test_the_operator_scales_triton_up_on_a_queue_breach_and_back_down_after_the_load(
        cluster: Cluster, kube: KubeClient, namespace: str, crds: None, triton_factory, prometheus_factory):
    triton = triton_factory(MODELS)
    prometheus = prometheus_factory([static_scrape(
        "triton", [triton.metrics_url.removeprefix("http://").removesuffix("/metrics")],
        {"namespace": namespace, "pod": "sdxl-real-0", "diffusion_dev_service": "sdxl"})])
    operator = start_operator(cluster, namespace, name="autoscaler",
                              DIFFUSION_AUTOSCALE_INTERVAL_SECONDS=str(TICK_S),
                              DIFFUSION_METRICS_WINDOW_SECONDS=str(WINDOW_S), DIFFUSION_QUEUE_MODEL="slow")
    try:
        kube.create({"apiVersion": API, "kind": "DiffusionService",
                     "metadata": {"name": "sdxl", "namespace": namespace},
                     "spec": {"model": {"source": "builtin://tiny-sdxl"},
                              "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 3,  # 3 L4 GPUs
                                              "queueLatencyTarget": "100ms",
                                              "prometheus": {"url": prometheus.url},
                                              "scaleDown": {"stabilizationWindowSeconds": 15}}}})
        kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas == 1

        query = queue_latency_seconds(TritonScope(namespace=namespace, service="sdxl", model="slow"), WINDOW_S)
        stop = threading.Event()
        workers = [threading.Thread(target=load, args=(triton.http_url, stop), daemon=True) for _ in range(CLIENTS)]
        for worker in workers:
            worker.start()
        breach_at = scaled_at = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and scaled_at is None:
            if breach_at is None:
                result = prometheus.query(query)
                if result and float(result[0]["value"][1]) > TARGET_S:
                    breach_at = time.monotonic()
            if kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas > 1:
                scaled_at = time.monotonic()
            time.sleep(0.1)
        stop.set()
        assert breach_at is not None, "the load never breached the queue target in Prometheus"
        assert scaled_at is not None, operator.log()[-3000:]
        reaction = max(0.0, scaled_at - breach_at)
        print(f"\nbreach -> scale patch: {reaction:.2f} s (goal <= scrape {SCRAPE_S} s + tick {TICK_S} s)")
        assert reaction <= SCRAPE_S + TICK_S + 1.0  # + 1 s for this test's own polling on a loaded machine

        obj = kube.get(API, "DiffusionService", "sdxl", namespace).to_dict()
        assert obj["status"]["autoscaling"]["lastDecisionReason"]
        assert obj["status"]["autoscaling"]["observedQueueLatency"]
        assert condition(kube.get(API, "DiffusionService", "sdxl", namespace), "ScalingActive") == "True"
        kube.wait_for_event(namespace, "sdxl", lambda e: "ScaledUp" in e, what="ScaledUp")

        for worker in workers:
            worker.join(timeout=30)
        # Load gone: the queue drains, and after the 15 s stabilization window replicas come back to 1.
        kube.wait_for("apps/v1", "Deployment", "sdxl", namespace, lambda d: d.spec.replicas == 1,
                      timeout=150, what="scale back down to 1")
        kube.wait_for_event(namespace, "sdxl", lambda e: "ScaledDown" in e, what="ScaledDown")
        history = kube.get(API, "DiffusionService", "sdxl", namespace).to_dict()["status"]["autoscaling"]["history"]
        assert history["scaleEvents"], "scale events are remembered in status (restart-safe history)"
    finally:
        operator.stop()

"""Benchmark: time to first image from zero replicas on the real node, phase by phase.

A tiny service with ``autoscaling.minReplicas: 0`` (nothing else: the operator's activator fronts it)
is left to idle to zero; then one request is sent to the client Service and the new Triton pod is
followed (polled every 0.2 s):

- **wake**: request sent -> the Triton pod exists (the activator holds it and exports the held count,
  Prometheus scrapes it, the autoscaler's tick reads it and sets replicas 1, the ReplicaSet creates
  the pod);
- **scheduling**: pod exists -> bound to the node;
- **container start**: bound -> container running (sandbox, network, the image is already there);
- **engine load**: running -> Ready (Triton starts and loads every model: strict readiness);
- **inference**: Ready -> the image is back (the activator's probe sees Ready, forwards, the pipeline runs).

The operator runs as a host process with the real-node settings and a 2 s autoscaler tick and 1 s
scrapes (a cluster's defaults are 15 s each: add up to ~30 s to "wake" there). Results go to
``bench/results/realnode_scale_from_zero.json``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from pathlib import Path

from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.names import selector_string

from bench.realnode.bed import operator_in_namespace, real_node_bed
from bench.realnode.pods import pod_with, ready, scheduled, started, until
from bench.realnode.runs import write_runs
from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.realnode.product import API, tiny_service

NAME = "from-zero"
FAST = {"DIFFUSION_AUTOSCALE_INTERVAL_SECONDS": "2", "DIFFUSION_METRICS_INTERVAL": "1s",
        "DIFFUSION_METRICS_WINDOW_SECONDS": "10"}
AUTOSCALING = {"enabled": True, "minReplicas": 0, "maxReplicas": 1, "queueLatencyTarget": "10s",
               "activation": {"scaleToZeroAfter": "10s"}}


def at_zero(kube: KubeClient, namespace: str) -> bool:
    deployment = kube.get("apps/v1", "Deployment", NAME, namespace)
    replicas = ((deployment.to_dict() if deployment is not None else {}).get("spec") or {}).get("replicas")
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector_string(NAME)).items
    return deployment is not None and replicas == 0 and not pods


def one_wake(kube: KubeClient, namespace: str, address: str) -> dict[str, float]:
    until(lambda: at_zero(kube, namespace), 300, "scaled to zero")
    done: dict[str, float] = {}

    def send() -> None:
        client = TritonClient(Endpoint.parse(address), timeout_s=600)
        try:
            client.generate(ImageRequest(prompt="a lighthouse at dawn", seed=1, width=256, height=256))
            done["image"] = time.monotonic()
        finally:
            client.close()

    sent = time.monotonic()
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    selector = selector_string(NAME)
    _, t_exists = until(lambda: pod_with(kube, namespace, selector, lambda p: True), 300, "a Triton pod")
    _, t_scheduled = until(lambda: pod_with(kube, namespace, selector, scheduled), 300, "scheduled")
    _, t_started = until(lambda: pod_with(kube, namespace, selector, started), 300, "container started")
    _, t_ready = until(lambda: pod_with(kube, namespace, selector, ready), 600, "Ready")
    thread.join(600)
    if "image" not in done:
        raise RuntimeError("the request sent at zero did not come back")
    return {
        "wake_s": round(t_exists - sent, 2),
        "scheduling_s": round(t_scheduled - t_exists, 2),
        "container_start_s": round(t_started - t_scheduled, 2),
        "engine_load_s": round(t_ready - t_started, 2),
        "inference_s": round(done["image"] - t_ready, 2),
        "first_image_s": round(done["image"] - sent, 2),
    }


def measure(kube: KubeClient, cluster: Cluster, runs: int) -> list[dict[str, float]]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    with operator_in_namespace(kube, cluster, namespace, FAST):
        kube.create(tiny_service(NAME, namespace, autoscaling=AUTOSCALING))
        until(lambda: ((kube.get(API, "DiffusionService", NAME, namespace).to_dict().get("status") or {})
                       .get("engine") or {}).get("servingCacheKey"), 600, "an engine served")
        service = kube.core.read_namespaced_service(NAME, namespace)
        address = f"{service.spec.cluster_ip}:8000"
        results = []
        for index in range(runs):
            results.append(one_wake(kube, namespace, address))
            print(f"run {index + 1}: {json.dumps(results[-1])}")
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/realnode_scale_from_zero.json"))
    args = parser.parse_args()
    with real_node_bed() as (cluster, kube):
        runs = measure(kube, cluster, args.runs)
    write_runs(runs, args.out, width=20)

if __name__ == "__main__":
    main()

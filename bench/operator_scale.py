"""Benchmark: how fast the operator turns DiffusionServices into running Triton Deployments.

1. Latency: with the engine already built (a cached key), ``--latency-count`` services are applied
   one after another; for each, the time from the create call returning to the Deployment appearing in
   a watch. Goal: p50 <= 1 s, p99 <= 3 s.
2. Scale: ``--scale-count`` services across 10 namespaces and 100 engine keys are applied at once;
   the time until every one reports phase Ready (Jobs ran, Deployments rolled out on kwok GPU nodes),
   with the operator process's peak RSS and CPU time. Goal: <= 120 s and <= 250 MB.

Runs its own test bed (with a large fake L4 pool) and operator process; prints a table and writes
``bench/results/operator_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import yaml
from kubernetes import client, watch

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from testbed.operator_process import OperatorProcess
from testbed.pools import DEFAULT_POOLS, NodePool

API = "diffusion.dev/v1alpha1"
CRD = Path(__file__).resolve().parents[1] / "manifests" / "crds" / "diffusion.dev_diffusionservices.yaml"
#: A pool as big as the scale run needs: 8 L4 per node, like GKE's g2-standard-96.
BENCH_POOL = NodePool("l4-bench-pool", nodes=150, cpu="96", memory="384Gi", accelerator="nvidia-l4",
                      gpu_product="NVIDIA-L4", gpus_per_node=8)


def service(name: str, namespace: str, width: int = 1024) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "DiffusionService", "metadata": {"name": name, "namespace": namespace},
            "spec": {"model": {"source": "builtin://tiny-sdxl"},
                     "engine": {"resolutions": [{"width": width, "height": 1024}]}}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def wait_ready(kube: KubeClient, namespace: str, name: str, timeout: float = 120) -> None:
    kube.wait_for(API, "DiffusionService", name, namespace,
                  lambda o: (o.to_dict().get("status") or {}).get("phase") == "Ready", timeout=timeout)


def latency_run(kube: KubeClient, count: int) -> list[float]:
    namespace = "bench-latency"
    kube.create_namespace(namespace)
    kube.create(service("seed", namespace))
    wait_ready(kube, namespace, "seed")  # the engine for this key is now built: every next one is cached

    seen: dict[str, float] = {}
    ready = threading.Event()
    stop = threading.Event()

    def watch_deployments() -> None:
        stream = watch.Watch()
        apps = client.AppsV1Api(kube.api_client)
        ready.set()
        for event in stream.stream(apps.list_namespaced_deployment, namespace=namespace, timeout_seconds=3600):
            name = event["object"].metadata.name
            seen.setdefault(name, time.monotonic())
            if stop.is_set():
                stream.stop()

    thread = threading.Thread(target=watch_deployments, daemon=True)
    thread.start()
    ready.wait()
    time.sleep(0.5)
    latencies = []
    for i in range(count):
        name = f"svc-{i}"
        kube.create(service(name, namespace))
        created = time.monotonic()
        deadline = created + 30
        while name not in seen and time.monotonic() < deadline:
            time.sleep(0.005)
        if name not in seen:
            raise RuntimeError(f"no Deployment for {name} within 30 s")
        latencies.append(seen[name] - created)
    stop.set()
    # Free the latency run's GPUs (the garbage collector removes its Deployments and pods).
    kube.delete("v1", "Namespace", namespace)
    kube.wait_gone("v1", "Namespace", namespace, None, timeout=300)
    return latencies


def scale_run(kube: KubeClient, count: int, operator_pid: int, timeout: float) -> dict[str, Any]:
    namespaces = [f"bench-scale-{i}" for i in range(10)]
    for ns in namespaces:
        kube.create_namespace(ns)
    proc = psutil.Process(operator_pid)
    cpu_before = sum(proc.cpu_times()[:2])
    peak_rss = proc.memory_info().rss
    started = time.monotonic()
    manifests = [service(f"svc-{i}", namespaces[i % 10], width=512 + 8 * (i % 100)) for i in range(count)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(kube.create, manifests))
    applied = time.monotonic() - started
    ready = 0
    while time.monotonic() - started < timeout:
        peak_rss = max(peak_rss, proc.memory_info().rss)
        ready = sum(1 for ns in namespaces for obj in kube.items(API, "DiffusionService", ns)
                    if (obj.to_dict().get("status") or {}).get("phase") == "Ready")
        if ready == count:
            break
        time.sleep(1)
    converged = time.monotonic() - started
    return {
        "services": count,
        "ready": ready,
        "apply_seconds": round(applied, 1),
        "converge_seconds": round(converged, 1),
        "operator_peak_rss_mb": round(peak_rss / 2**20, 1),
        "operator_cpu_seconds": round(sum(proc.cpu_times()[:2]) - cpu_before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-count", type=int, default=200)
    parser.add_argument("--scale-count", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, default=Path("bench/results/operator_scale.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
        cluster = Cluster(Path(tmp))
        cluster.up([*DEFAULT_POOLS, BENCH_POOL])
        try:
            kube = KubeClient(cluster.kubeconfig)
            crd = yaml.safe_load(CRD.read_text())
            kube.apply(crd, field_manager="bench")
            kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"], None,
                          lambda c: condition(c, "Established") == "True")
            kube.dynamic.resources.invalidate_cache()
            operator = OperatorProcess(Path(tmp), cluster.kubeconfig, env={"DIFFUSION_BUILD_BACKEND": "onnxruntime"})
            operator.start()
            try:
                latencies = latency_run(kube, args.latency_count) if args.latency_count else []
                scale = scale_run(kube, args.scale_count, operator.process.pid() or 0, args.timeout) \
                    if args.scale_count else {}
            finally:
                operator.stop()
        finally:
            cluster.down()
    result: dict[str, Any] = {"scale": scale}
    if latencies:
        result["latency"] = {
            "count": len(latencies),
            "p50_s": round(statistics.median(latencies), 3),
            "p99_s": round(percentile(latencies, 99), 3),
            "max_s": round(max(latencies), 3),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: a DiffusionService from apply to first image on the real node, each phase on its own.

For each run, in a fresh namespace (so a fresh engine cache and a real build):

- the build Job's pod: scheduled -> container started -> builder done (the builder's own seconds
  from its termination message, and the pod's wall time), against ``engine-builder build`` of the
  very same plan (read back from the Job's plan ConfigMap) on the host;
- the first Triton pod: scheduled -> container started -> Ready (model load: Triton's start, the
  Python backend stubs, the ONNX sessions) -> first inference through the Service;
- a second Triton pod added by scaling to 2 (engine already published): scheduled -> Ready, which is
  the cold start the autoscaler plans with.

Transitions are observed by polling every 0.2 s (Kubernetes timestamps have 1 s resolution). It uses
the running test bed (``testbed up``) when it has a real node, else starts one. Results go to
``bench/results/realnode_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.names import engine_job_name, engine_plan_config_map_name, selector_string

from bench.realnode.bed import real_node_bed
from bench.realnode.pods import pod_with, ready, scheduled, started, terminated, until
from bench.realnode.runs import write_runs
from engine_builder.layout import PLAN_FILE
from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from testbed.realnode.product import API, operator_env, tiny_service


def pod_phases(kube: KubeClient, namespace: str, selector: str, last: Callable[[Any], bool], timeout: float,
               exclude: set[str] | None = None) -> tuple[str, dict[str, float]]:
    """Times (monotonic) at which a new pod matching ``selector`` was scheduled, started and ``last``."""
    skip = exclude or set()

    def new(check: Callable[[Any], bool]) -> Callable[[], Any]:
        return lambda: pod_with(kube, namespace, selector, lambda p: p.metadata.name not in skip and check(p))

    pod, t_scheduled = until(new(scheduled), timeout, f"a pod of {selector} scheduled")
    _, t_started = until(new(started), timeout, "its container started")
    _, t_last = until(new(last), timeout, "its last phase")
    return pod.metadata.name, {"scheduled": t_scheduled, "started": t_started, "last": t_last}


def host_build_seconds(kube: KubeClient, namespace: str, cache_key: str) -> float:
    plan = kube.core.read_namespaced_config_map(engine_plan_config_map_name(cache_key), namespace).data[PLAN_FILE]
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        (Path(tmp) / PLAN_FILE).write_text(plan)
        entry = Path(sys.executable).parent / "engine-builder"
        began = time.monotonic()
        subprocess.run([str(entry), "build", "--plan", f"{tmp}/{PLAN_FILE}", "--out", f"{tmp}/out"], check=True,
                       capture_output=True, text=True, timeout=900)
        return round(time.monotonic() - began, 2)


def one_run(kube: KubeClient, cluster: Cluster) -> dict[str, Any]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(namespace)
    operator = OperatorProcess(cluster.state_dir, cluster.kubeconfig, name=f"operator-{namespace}",
                               env=operator_env(cluster.start_prometheus()), extra_args=[f"--namespace={namespace}"])
    operator.start()
    try:
        applied = time.monotonic()
        kube.create(tiny_service("bench", namespace, replicas=1))
        build_selector = "app.kubernetes.io/component=engine-build"
        _, build = pod_phases(kube, namespace, build_selector, terminated, 600)
        svc = kube.get(API, "DiffusionService", "bench", namespace).to_dict()
        key = svc["status"]["engine"]["cacheKey"]
        job_pods = kube.core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name="
                                                 f"{engine_job_name(key)}").items
        summary = json.loads(job_pods[0].status.container_statuses[0].state.terminated.message)
        first, triton = pod_phases(kube, namespace, selector_string("bench"), ready, 600)
        service = kube.core.read_namespaced_service("bench", namespace)
        client = TritonClient(Endpoint.parse(f"{service.spec.cluster_ip}:8000"), timeout_s=120)
        began = time.monotonic()
        client.generate(ImageRequest(prompt="a lighthouse at dawn", seed=1, width=256, height=256))
        first_image = time.monotonic()
        client.close()
        kube.resource(API, "DiffusionService").patch(name="bench", namespace=namespace, body={"spec": {"replicas": 2}},
                                                     content_type="application/merge-patch+json")
        _, second = pod_phases(kube, namespace, selector_string("bench"), ready, 600, exclude={first})
        host = host_build_seconds(kube, namespace, key)
    finally:
        operator.stop()
        kube.core.delete_namespace(namespace)
    return {
        "apply_to_build_pod_scheduled_s": round(build["scheduled"] - applied, 2),
        "build_pod_container_start_s": round(build["started"] - build["scheduled"], 2),
        "build_pod_run_s": round(build["last"] - build["started"], 2),
        "builder_own_seconds": summary["seconds"],
        "host_build_s": host,
        "triton_container_start_s": round(triton["started"] - triton["scheduled"], 2),
        "triton_model_load_to_ready_s": round(triton["last"] - triton["started"], 2),
        "first_inference_s": round(first_image - began, 2),
        "apply_to_first_image_s": round(first_image - applied, 2),
        "added_pod_scheduled_to_ready_s": round(second["last"] - second["scheduled"], 2),
        "added_pod_container_start_s": round(second["started"] - second["scheduled"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results/realnode_startup.json"))
    args = parser.parse_args()
    runs = []
    with real_node_bed() as (cluster, kube):
        for index in range(args.runs):
            runs.append(one_run(kube, cluster))
            print(f"run {index + 1}: {json.dumps(runs[-1])}")
    write_runs(runs, args.out, width=34)

if __name__ == "__main__":
    main()

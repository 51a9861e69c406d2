"""Stages 4-5: the sample applied, its engine built by a Job pod, Triton Ready, Prometheus on it, an image."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from diffusion_operator.client.endpoints import endpoint_from_status
from diffusion_operator.client.generate import generate_png
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint
from kubernetes import client

from testbed.demo.context import Demo
from testbed.demo.manifests import API, demo_service
from testbed.demo.options import (
    FIELD_MANAGER,
    IMAGE_SIZE,
    IMAGE_STEPS,
    OPERATOR_NAMESPACE,
    SCENE_GUIDANCE,
    SCENE_SIZE,
    SCENE_STEPS,
    SEED,
    SERVICE,
)
from testbed.demo.report import BuildFigures
from testbed.demo.timings import build_figures
from testbed.demo.watch import PodTracker, wait_until
from testbed.kube import KubeClient, WaitTimeoutError

JOB_LABEL = "batch.kubernetes.io/job-name"
SHOWCASE_PROMPT = "a large red circle on a white background"


def base_request() -> ImageRequest:
    return ImageRequest(prompt="a lighthouse at dusk, oil painting", seed=SEED, steps=IMAGE_STEPS,
                        width=IMAGE_SIZE, height=IMAGE_SIZE)


def showcase_request() -> ImageRequest:
    """The demo's own image: a scene the built-in model draws, at its size and the serving defaults
    (30 steps, guidance 5), enlarged x2 by the upscale model so it is worth opening."""
    return ImageRequest(prompt=SHOWCASE_PROMPT, seed=SEED, steps=SCENE_STEPS, width=SCENE_SIZE, height=SCENE_SIZE,
                        guidance_scale=SCENE_GUIDANCE, upscale_factor=2)


def _status(obj: Any) -> dict[str, Any]:
    return dict(obj.to_dict().get("status") or {})


def _engine(obj: Any) -> dict[str, Any]:
    return dict(_status(obj).get("engine") or {})


def _build_pod(kube: KubeClient, namespace: str, job: str) -> Any | None:
    found: Any = kube.core.list_namespaced_pod(namespace, label_selector=f"{JOB_LABEL}={job}")
    pods: list[Any] = found.items
    return max(pods, key=lambda p: p.metadata.creation_timestamp) if pods else None


def _follow_builder_log(demo: Demo, pod: str) -> None:
    """Print each finished builder stage as the pod logs it (``progress stage=export ... done in 6.2s``)."""
    kube = demo.kube
    with contextlib.suppress(Exception):  # the log is a show; the build's outcome comes from status
        response: Any = kube.core.read_namespaced_pod_log(pod, demo.ns, follow=True, _preload_content=False)
        buffer = ""
        for chunk in response.stream(1024):
            buffer += chunk.decode(errors="replace")
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if "progress stage=" in line and " done in " in line:
                    stage = line.split("stage=", 1)[1].split()[0]
                    demo.stages.say(f"engine-builder {stage}: {line.rsplit(' done in ', 1)[1].strip()}")


def apply_and_build(demo: Demo) -> None:
    """The sample applied; the operator's build Job runs as a pod on the real node to completion."""
    kube, ns = demo.kube, demo.ns
    with demo.stages.step("apply builtin-tiny sample") as notes:
        kube.apply(demo_service(ns, demo.options.scale_down_window_s), field_manager=FIELD_MANAGER)
        try:
            obj = kube.wait_for(API, "DiffusionService", SERVICE, ns, lambda o: bool(_engine(o).get("jobName")),
                                timeout=90, what="an engine build Job")
        except WaitTimeoutError as err:
            raise WaitTimeoutError(f"{err}\n{demo.diagnostics()}") from None
        engine = _engine(obj)
        demo.report.cache_key = engine["cacheKey"]
        notes.append(f"the operator pod made Job {engine['jobName']} for engine {engine['cacheKey']}")
    job = engine["jobName"]
    with demo.stages.step("engine build (a Job pod on the real node)") as notes:
        if not wait_until(lambda: (p := _build_pod(kube, ns, job)) is not None and bool(p.spec.node_name), 60):
            raise WaitTimeoutError(f"the build Job's pod was never scheduled\n{demo.diagnostics()}")
        pod = _build_pod(kube, ns, job)
        assert pod is not None
        if pod.spec.node_name != demo.cluster.real_node().name:
            raise RuntimeError(f"the build pod went to {pod.spec.node_name}, not the real node: "
                               "check gpuNodeLabels/gpuTolerations in the chart values")
        demo.stages.say(f"build pod {pod.metadata.name} on {pod.spec.node_name} ({pod.spec.containers[0].image})")
        wait_until(lambda: _container_started(kube, ns, pod.metadata.name), 120)
        follower = threading.Thread(target=_follow_builder_log, args=(demo, pod.metadata.name), daemon=True)
        follower.start()
        try:
            obj = kube.wait_for(API, "DiffusionService", SERVICE, ns,
                                lambda o: _engine(o).get("state") in ("Succeeded", "Failed"),
                                timeout=demo.options.build_timeout_s, what="the engine build to finish")
        except WaitTimeoutError as err:
            raise WaitTimeoutError(f"{err}\n{demo.diagnostics()}") from None
        follower.join(timeout=5)
        engine = demo.report.engine = _engine(obj)
        if engine["state"] != "Succeeded":
            raise RuntimeError(f"the engine build failed: {engine.get('message')}\n{demo.diagnostics()}")
        figures = _build_report(demo, job)
        notes.append(f"{demo.report.build_status} in {figures.builder_s}s in the container; status.engine: "
                     f"state {engine['state']}, tensorrtVersion {engine.get('tensorrtVersion')}")
        demo.stages.say(f"termination message -> status.engine.message: {engine.get('message')}")


def _container_started(kube: KubeClient, namespace: str, pod: str) -> bool:
    found: Any = kube.core.read_namespaced_pod(pod, namespace)
    status = found.status
    states = [s.state for s in status.container_statuses or []]
    return any(s.running is not None or s.terminated is not None for s in states)


def _build_report(demo: Demo, job_name: str) -> BuildFigures:
    kube, batch = demo.kube, client.BatchV1Api(demo.kube.api_client)

    def read_job() -> Any:
        return batch.read_namespaced_job(job_name, demo.ns)

    # The Job's completionTime trails the pod's exit (and the operator's status) by a moment.
    wait_until(lambda: read_job().status.completion_time is not None, 30)
    job = read_job()
    pod = _build_pod(kube, demo.ns, job_name)
    log = ""
    message: dict[str, Any] = {}
    if pod is not None:
        with contextlib.suppress(Exception):
            log = kube.core.read_namespaced_pod_log(pod.metadata.name, demo.ns)
        terminated = pod.status.container_statuses[0].state.terminated if pod.status.container_statuses else None
        with contextlib.suppress(Exception):
            message = json.loads(terminated.message) if terminated is not None else {}
    figures = demo.report.build = build_figures(job, pod, log, message)
    demo.report.build_status = message.get("status")
    return figures


def serve(demo: Demo, tracker: PodTracker) -> None:
    """Ready; the first pod's way to serving; Prometheus scraping it; an image through the Service."""
    kube, ns = demo.kube, demo.ns
    with demo.stages.step("Triton Ready (serving image on the real node)") as notes:
        try:
            obj = kube.wait_for(API, "DiffusionService", SERVICE, ns, lambda o: _status(o).get("phase") == "Ready",
                                timeout=demo.options.ready_timeout_s, what="phase Ready")
        except WaitTimeoutError as err:
            raise WaitTimeoutError(f"{err}\n{demo.diagnostics()}") from None
        demo.status = _status(obj)
        demo.report.phase = "Ready"
        wait_until(lambda: bool(tracker.startups), 120)
        first = next(iter(tracker.startups.values()), None)
        if first is not None:
            notes.append(f"pod {first.pod} on {first.node}: container start {first.container_start_s}s, "
                         f"model load {first.model_load_s}s (Triton log), Ready after {first.ready_s}s, "
                         f"first inference {first.first_inference_s}s")
    with demo.stages.step("prometheus finds the pod (ServiceMonitor -> endpointslice SD)") as notes:
        selector = f'namespace="{ns}",service="{SERVICE}",diffusion_dev_service="{SERVICE}"'
        found: list[dict[str, str]] = []

        def scraped() -> bool:
            found[:] = [t for t in demo.monitoring.targets(selector) if t.get("up") == "1"]
            return bool(found)

        if not wait_until(scraped, 90, interval=1):
            raise WaitTimeoutError(f"Prometheus never scraped {selector}: targets {demo.monitoring.targets('')}")
        demo.report.targets = found
        labels = {k: v for k, v in found[0].items() if k not in ("__name__", "up")}
        notes.append("up{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "} = 1")
        operator = [t for t in demo.monitoring.targets(f'namespace="{OPERATOR_NAMESPACE}"') if t.get("up") == "1"]
        if operator:  # the chart's own ServiceMonitor, followed the same way
            notes.append(f"and the operator pod {operator[0].get('pod')} (the chart's ServiceMonitor)")
    with demo.stages.step("generate an image (diffusion CLI code, via the ClusterIP)") as notes:
        service: Any = kube.core.read_namespaced_service(SERVICE, ns)
        in_cluster = str(demo.status["endpoints"]["http"]).removeprefix("http://")
        port = in_cluster.rsplit(":", 1)[1]
        cluster_ip = f"{service.spec.cluster_ip}:{port}"
        endpoint: Endpoint = endpoint_from_status(demo.status, "http", SERVICE, {in_cluster: cluster_ip})
        started = time.monotonic()
        image = generate_png(endpoint, showcase_request(), demo.options.out_dir / "demo-tiny.png")
        demo.report.image, demo.report.seed = str(image.path), image.seed
        demo.report.image_seconds = round(time.monotonic() - started, 3)
        notes.append(f"{image.path} {image.width}x{image.height} seed {image.seed}: {in_cluster} -> "
                     f"ClusterIP {cluster_ip} (kube-proxy)")
        demo.endpoint = endpoint
    demo.stages.say(f"the same by hand: KUBECONFIG={demo.cluster.kubeconfig} .venv/bin/diffusion generate "
                    f"\"a small blue triangle on a yellow background\" --service {SERVICE} -n {ns} "
                    f"--resolve {in_cluster}={cluster_ip} --size 64x64 --steps 30 --upscale 2 -o out/triangle.png")

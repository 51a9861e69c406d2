"""The Triton Deployment that serves one engine key's model repository.

The caller passes the key to *serve* (``status.engine.servingCacheKey``), not the newest one: while a
new key builds, the Deployment keeps mounting the old repository, and switching the key changes the
pod template (volume subPath, label, annotation), which rolls the pods out with zero downtime
(``maxUnavailable: 0``). Pipeline settings reach Triton as environment defaults, so changing them
rolls the pods without touching the engines.
"""

from __future__ import annotations

import math
from typing import Any

from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.drain import drain_times
from diffusion_operator.render.names import (
    ENGINE_KEY_ANNOTATION,
    deployment_name,
    selector_labels,
    serving_labels,
    serving_pod_labels,
)
from diffusion_operator.render.pods import (
    container_resources,
    gpu_scheduling,
    restricted_container_security,
    restricted_pod_security,
    shared_memory_volume,
)
from diffusion_operator.render.storage import TRITON_MODEL_REPOSITORY, cache_volume, repository_subpath

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002
TRITON_CONTAINER = "triton"
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
STARTUP_PERIOD_SECONDS = 10
#: SDXL requests run for seconds; a busy server may answer health checks slowly.
PROBE_TIMEOUT_SECONDS = 5
#: A terminating pod keeps serving this long before Triton gets SIGTERM: kube-proxy and the other
#: nodes' load balancers drop the endpoint in about a second, and a connection they still route here
#: must not meet a closed port (Triton stops listening at SIGTERM, then drains what it has).
ENDPOINT_DRAIN_SECONDS = 5


def triton_args(exit_timeout_s: int) -> list[str]:
    return [
        f"--model-repository={TRITON_MODEL_REPOSITORY}",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        "--strict-readiness=true",  # ready only when every model is loaded
        "--exit-on-error=true",  # a model that fails to load restarts the pod instead of half-serving
        "--metrics-config=summary_latencies=true",
        # Finish what the pod holds at SIGTERM (render/drain.py sizes it to the longest request).
        f"--exit-timeout-secs={exit_timeout_s}",
    ]


def pipeline_env(spec: DiffusionServiceSpec) -> list[dict[str, str]]:
    """Request-time defaults for the serving pipeline (read by the BLS model)."""
    pipeline = spec.pipeline
    delay = parse_duration(spec.serving.max_queue_delay)
    return [
        {"name": "SDXL_DEFAULT_STEPS", "value": str(pipeline.steps)},
        {"name": "SDXL_DEFAULT_GUIDANCE_SCALE", "value": repr(float(pipeline.guidance_scale))},
        {"name": "SDXL_DEFAULT_SCHEDULER", "value": pipeline.scheduler},
        {"name": "SDXL_UPSCALE_FACTOR", "value": str(pipeline.upscale.factor if pipeline.upscale else 1)},
        {"name": "SDXL_MAX_QUEUE_DELAY_MICROSECONDS", "value": str(math.ceil(delay.total_seconds() * 1e6))},
    ]


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": PROBE_TIMEOUT_SECONDS,
        "failureThreshold": failures,
    }


def build_deployment(
    name: str,
    namespace: str,
    spec: DiffusionServiceSpec,
    *,
    cache_key: str,
    replicas: int | None,
    settings: RenderSettings,
) -> dict[str, Any]:
    """The Deployment for service ``name`` serving ``cache_key``.

    ``replicas`` is the decision's ``replica_ownership.rendered_replicas`` (``render.replicas``); None
    leaves the field out so the autoscaler stays its only writer.
    """
    serving = spec.serving
    drain = drain_times(spec, endpoint_drain_s=ENDPOINT_DRAIN_SECONDS,
                        minimum_grace_s=settings.termination_grace_seconds)
    container = {
        "name": TRITON_CONTAINER,
        "image": serving.image or settings.triton_image,
        "command": ["tritonserver"],
        "args": triton_args(drain.exit_timeout_s),
        "env": [{"name": "DIFFUSION_ENGINE_KEY", "value": cache_key}, *pipeline_env(spec)],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": container_resources(serving.gpu.count, serving.resources),
        "volumeMounts": [
            {
                "name": "engine-cache",
                "mountPath": TRITON_MODEL_REPOSITORY,
                "subPath": repository_subpath(cache_key),
                "readOnly": True,
            },
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
        # Engine load takes minutes; the startup probe holds liveness off until the server is ready.
        "startupProbe": _probe(
            READY_PATH,
            period=STARTUP_PERIOD_SECONDS,
            failures=math.ceil(settings.startup_budget_seconds / STARTUP_PERIOD_SECONDS),
        ),
        "readinessProbe": _probe(READY_PATH, period=5, failures=3),
        "livenessProbe": _probe(LIVE_PATH, period=10, failures=6),
        # The kubelet's own sleep (no binary needed in the image): endpoints go first, then SIGTERM.
        "lifecycle": {"preStop": {"sleep": {"seconds": ENDPOINT_DRAIN_SECONDS}}},
        "securityContext": restricted_container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec = {
        "automountServiceAccountToken": False,  # Triton never talks to the API server
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": drain.grace_s,
        "securityContext": restricted_pod_security(settings.run_as_user),
        **gpu_scheduling(
            serving.gpu.type, extra_node_selector=serving.node_selector, extra_tolerations=serving.tolerations,
            node_labels=settings.gpu_node_labels, gpu_tolerations=settings.gpu_tolerations,
        ),
        "containers": [container],
        "volumes": [cache_volume(), shared_memory_volume(settings.shm_size)],
    }
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(name)},
        "revisionHistoryLimit": 3,
        # GPU nodes take minutes to provision; a rollout is only stuck after that.
        "progressDeadlineSeconds": 1800,
        # Never drop below the current count: the old engine serves until the new pods are ready.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {
                "labels": serving_pod_labels(name, cache_key),
                "annotations": {ENGINE_KEY_ANNOTATION: cache_key},
            },
            "spec": pod_spec,
        },
    }
    if replicas is not None:
        deployment_spec = {"replicas": replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name(name), "namespace": namespace, "labels": serving_labels(name)},
        "spec": deployment_spec,
    }


def with_template(deployment: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """The Deployment with another pod template: a rollback restores the previous revision's."""
    return {**deployment, "spec": {**deployment["spec"], "template": template}}

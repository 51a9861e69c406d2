"""Operator-wide settings, read once from the environment (the Helm chart sets them).

Everything a DiffusionService can leave unset (images, Prometheus URL, the build backend) has its
cluster-wide default here, so the chart's values are the one place a platform team configures them.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OperatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    builder_image: str = Field(default="ghcr.io/diffusion-operator/engine-builder:0.1.0")
    triton_image: str = Field(default="ghcr.io/diffusion-operator/triton-sdxl:0.1.0")
    #: The TensorRT version inside builder_image: part of every engine cache key.
    tensorrt_version: str = Field(default="10.13.3")
    #: "tensorrt" on GPU clusters; "onnxruntime" builds CPU repositories (local demo, CI).
    build_backend: Literal["tensorrt", "onnxruntime"] = "tensorrt"
    prometheus_url: str = Field(default="http://prometheus-operated.monitoring.svc:9090")
    #: Namespace Prometheus scrapes from: allowed to Triton's metrics port by a service's NetworkPolicy.
    metrics_scraper_namespace: str = Field(default="monitoring", min_length=1, max_length=63)
    #: Where the operator itself runs (the chart sets it from the pod's namespace): a service's
    #: NetworkPolicy admits it to Triton's HTTP port when the speed tier is on, since the operator
    #: sends the tier to every pod. Unset (an operator outside the cluster): no such rule.
    operator_namespace: str | None = Field(default=None, min_length=1, max_length=63)
    builder_service_account: str = "diffusion-engine-builder"
    cache_storage_class: str | None = None
    cache_size: str = "200Gi"
    #: Requests of the build pod besides its GPU (JSON in DIFFUSION_BUILD_REQUESTS); a service's
    #: spec.engine.buildResources wins key by key. No memory by default: each build asks for its own
    #: measured figure (engines/build_memory.py). A memory set here replaces the figures for every build
    #: (request and limit), for builds they do not describe (a custom builder image).
    build_requests: dict[str, str] = Field(default_factory=lambda: {"cpu": "4"})
    #: How often the autoscaler re-decides for each autoscaled service (HPA's sync period is 15 s).
    autoscale_interval_seconds: float = Field(default=15.0, gt=0)
    #: Rate window of the queue-latency signal; short enough to react, long enough to hold a few requests.
    metrics_window_seconds: int = Field(default=60, ge=5)
    #: Give up on a Prometheus query after this long (the tick holds replicas and counts a failure).
    prometheus_timeout_seconds: float = Field(default=5.0, gt=0)
    #: Override of the Triton model whose queue is the SLA, for every service. Unset: each service's
    #: entry models from its pipelines (metrics/queue_models.py), e.g. `sdxl` and `sdxl-photoshoot`.
    queue_model: str | None = Field(default=None, min_length=1)
    #: Level-based safety net: every service is reconciled at least this often even with no events.
    #: 0 turns the timer off (each timer is a task per object: memory at thousands of services).
    resync_interval_seconds: float = Field(default=300.0, ge=0)
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    #: Scrape interval of the ServiceMonitors the operator renders (Triton's and the activator's).
    metrics_interval: str = Field(default="15s", pattern=r"^[0-9]+(ms|s|m)$")
    #: Undo a rollout whose new pods fail this long while old ones serve (reconcile/rollback.py); 0: never.
    rollback_after_seconds: float = Field(default=120.0, ge=0)
    #: GPU type -> node labels selecting it (JSON in DIFFUSION_GPU_NODE_LABELS); empty: GKE's labels.
    gpu_node_labels: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Tolerations for GPU pods (JSON in DIFFUSION_GPU_TOLERATIONS); unset: GKE's GPU taint.
    gpu_tolerations: list[dict[str, str]] | None = None
    #: The activator's image (services with minReplicas 0): the operator's own, set by the chart.
    activator_image: str = Field(default="ghcr.io/diffusion-operator/operator:0.1.0")
    #: Requests one activator replica holds at most while its service is at zero (beyond: 429).
    activator_queue_limit: int = Field(default=100, ge=1, le=100000)
    #: Node labels and tolerations of the activator pods (JSON); empty: anywhere.
    activator_node_selector: dict[str, str] = Field(default_factory=dict)
    activator_tolerations: list[dict[str, str]] = Field(default_factory=list)

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> OperatorConfig:
        """``DIFFUSION_<FIELD>`` variables, e.g. DIFFUSION_PROMETHEUS_URL; unknown ones are ignored."""
        prefix = "DIFFUSION_"
        values: dict[str, object] = {
            key[len(prefix):].lower(): value
            for key, value in environ.items()
            if key.startswith(prefix) and key[len(prefix):].lower() in cls.model_fields
        }
        for structured in ("gpu_node_labels", "gpu_tolerations", "build_requests", "activator_node_selector",
                           "activator_tolerations"):  # maps and lists arrive as JSON
            if isinstance(values.get(structured), str):
                values[structured] = json.loads(str(values[structured]))
        return cls.model_validate(values)

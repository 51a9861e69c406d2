"""Operator-wide settings the renderers need and the spec leaves open, with the reason for each default.

The lead's operator config (and the chart's values) fill a ``RenderSettings``; builders take it as
an argument, so tests can render with any settings and no builder reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from diffusion_operator.render.names import ENGINE_BUILDER_SERVICE_ACCOUNT


@dataclass(frozen=True)
class RenderSettings:
    triton_image: str = "ghcr.io/diffusion-operator/triton-sdxl:0.1.0"
    builder_image: str = "ghcr.io/diffusion-operator/engine-builder:0.1.0"
    #: Created by the operator in every namespace it builds in (render/accounts.py); the build Job runs as it.
    builder_service_account: str = ENGINE_BUILDER_SERVICE_ACCOUNT
    #: Triton's NGC image user; restricted Pod Security needs a non-root uid that can read the cache.
    run_as_user: int = 1000
    #: RWX so the builder on one node and Triton pods on others share one cache (see storage.py).
    cache_access_modes: tuple[str, ...] = ("ReadWriteMany",)
    #: SDXL base engines are ~10 GiB per precision/resolution set; room for a handful of keys.
    cache_size: str = "200Gi"
    cache_storage_class: str | None = None
    #: Retries of a failed build pod; each try costs GPU time, and a deterministic failure stays one.
    build_backoff_limit: int = 2
    #: How long Triton may take to load the engines before the kubelet restarts it (SDXL: minutes).
    startup_budget_seconds: int = 1200
    #: In-flight SDXL requests take seconds; let Triton drain before SIGKILL.
    termination_grace_seconds: int = 60
    #: Python-backend tensors travel through /dev/shm; 1024² SDXL tensors need more than the 64 MiB default.
    shm_size: str = "4Gi"
    metrics_interval: str = "15s"
    #: Where Prometheus runs: the default peer allowed to scrape Triton's metrics port when a
    #: service's NetworkPolicy names no metricsScrapers (the chart's defaults.metricsScraperNamespace).
    metrics_scraper_namespace: str = "monitoring"
    #: The operator's namespace, admitted to Triton's HTTP port while a service's speed tier is on
    #: (the operator sends the tier to each pod); None: the operator runs outside the cluster.
    operator_namespace: str | None = None
    #: Per GPU type, the node labels that select it, replacing GKE's accelerator label (EKS, AKS and
    #: on-prem clusters label GPU nodes differently, e.g. nvidia.com/gpu.product from GPU discovery).
    gpu_node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Tolerations for GPU pods, replacing GKE's nvidia.com/gpu=present:NoSchedule when set.
    gpu_tolerations: tuple[Mapping[str, str], ...] | None = None
    #: The activator runs from the operator's own image (``diffusion-operator activator``).
    activator_image: str = "ghcr.io/diffusion-operator/operator:0.1.0"
    #: Two replicas on different nodes where possible: one activator lost keeps the endpoint answering.
    activator_replicas: int = 2
    #: Requests one activator replica holds at most while a service is at zero; beyond it a 429. A held
    #: KServe request is a small prompt (an inpainting image at most), so 100 bound a replica to ~100 MiB.
    activator_queue_limit: int = 100
    #: Where the activator may run (it needs no GPU); empty: anywhere the scheduler likes.
    activator_node_selector: Mapping[str, str] = field(default_factory=dict)
    activator_tolerations: tuple[Mapping[str, str], ...] = ()

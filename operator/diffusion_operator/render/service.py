"""The Triton Service, its ServiceMonitor, the PodDisruptionBudget and the endpoints shown in status."""

from __future__ import annotations

from typing import Any

from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import GRPC_PORT, HTTP_PORT, METRICS_PORT
from diffusion_operator.render.names import (
    ENGINE_KEY_LABEL,
    SERVICE_LABEL,
    pod_disruption_budget_name,
    selector_labels,
    service_monitor_name,
    service_name,
    serving_labels,
)
from diffusion_operator.render.replicas import needs_disruption_budget

SERVICE_MONITOR_API_VERSION = "monitoring.coreos.com/v1"


def build_service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name(name), "namespace": namespace, "labels": serving_labels(name)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(name),
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                    "appProtocol": "http",
                },
            ],
        },
    }


def build_service_monitor(name: str, namespace: str, settings: RenderSettings) -> dict[str, Any]:
    """Scrape Triton's metrics; the service and engine key become metric labels.

    Prometheus turns the pod labels into ``names.SERVICE_METRIC_LABEL`` and
    ``names.ENGINE_KEY_METRIC_LABEL``, which is what the autoscaler's and the dashboards' queries select
    on. Render it only when the ServiceMonitor CRD exists in the cluster (the caller checks).
    """
    return {
        "apiVersion": SERVICE_MONITOR_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": {"name": service_monitor_name(name), "namespace": namespace, "labels": serving_labels(name)},
        "spec": {
            "selector": {"matchLabels": selector_labels(name)},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": settings.metrics_interval}],
            "podTargetLabels": [SERVICE_LABEL, ENGINE_KEY_LABEL],
        },
    }


def build_pod_disruption_budget(name: str, namespace: str, current_replicas: int) -> dict[str, Any] | None:
    """At most one Triton pod evicted at a time; None (delete any existing PDB) at one replica or less."""
    if not needs_disruption_budget(current_replicas):
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": pod_disruption_budget_name(name),
            "namespace": namespace,
            "labels": serving_labels(name),
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(name)},
            # A pod that never became ready (bad engine, no GPU) must not block node drains.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def endpoints(name: str, namespace: str) -> dict[str, str]:
    """``status.endpoints``: in-cluster addresses of the Service."""
    host = f"{service_name(name)}.{namespace}.svc"
    return {
        "http": f"http://{host}:{HTTP_PORT}",
        "grpc": f"{host}:{GRPC_PORT}",
        "metrics": f"http://{host}:{METRICS_PORT}/metrics",
    }

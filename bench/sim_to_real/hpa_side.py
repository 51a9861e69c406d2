"""The HPA side: kube-controller-manager's HPA on the Triton chart's per-pod queue metric.

Triton's k8s-onprem chart scales on a Pods metric that prometheus-adapter serves from
``avg(delta(nv_inference_queue_duration_us[30s]) / (1 + delta(nv_inference_request_success[30s]))) by (pod)``
with an AverageValue target. prometheus-adapter's module cannot be fetched here, so the test bed's
metrics adapter (``testbed/metrics_adapter.py``, built from sigs.k8s.io/custom-metrics-apiserver)
serves the same rule, with the window compressed. The HPA targets the DiffusionService's ``/scale``
subresource, as a platform team would point an HPA (or KEDA) at the product; the operator renders
what ``spec.replicas`` then says. The HPA controller's sync period is the test bed's
``DIFFUSION_TESTBED_HPA_SYNC_PERIOD``, set by the benchmark before the cluster starts.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes.utils import parse_quantity

from bench.sim_to_real import settings
from bench.sim_to_real.real_fleet import HpaSide
from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.metrics_adapter import TRITON_CHART_QUEUE_QUERY, pods_metric_hpa, start_metrics_adapter
from testbed.realnode.product import API

METRIC = "triton_queue_us_per_request"


def hpa_manifest(name: str, namespace: str, hpa: settings.HpaSettings | None = None) -> dict[str, Any]:
    """autoscaling/v2 with the chart's metric at our SLA and autoscaling/v2's default behaviour, compressed."""
    hpa = hpa or settings.HpaSettings()
    period = hpa.policy_period_s
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": period},
            {"type": "Percent", "value": 100, "periodSeconds": period}]},
        "scaleDown": {"stabilizationWindowSeconds": hpa.down_stabilization_s, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 100, "periodSeconds": period}]},
    }
    return pods_metric_hpa(name, namespace, name, METRIC, int(hpa.target_us), min_replicas=settings.MIN_REPLICAS,
                           max_replicas=settings.MAX_REPLICAS, behavior=behavior,
                           scale_target_ref={"apiVersion": API, "kind": "DiffusionService", "name": name})


def install_hpa(kube: KubeClient, cluster: Cluster, namespace: str, name: str) -> HpaSide:
    """Start the adapter on the test bed's Prometheus and create the HPA."""
    hpa = settings.HpaSettings()
    adapter = start_metrics_adapter(cluster, cluster.start_prometheus(), {METRIC: TRITON_CHART_QUEUE_QUERY},
                                    window=f"{hpa.window_s}s")
    kube.create(hpa_manifest(name, namespace, hpa))

    def teardown() -> None:
        kube.delete("autoscaling/v2", "HorizontalPodAutoscaler", name, namespace)
        adapter.stop()

    autoscaling = k8s.AutoscalingV2Api(kube.api_client)
    return HpaSide(lambda: hpa_view(autoscaling.read_namespaced_horizontal_pod_autoscaler_status(name, namespace)
                                    .to_dict()), teardown)


def hpa_view(hpa: dict[str, Any]) -> dict[str, Any]:
    """The HPA's last sync as its status reports it: the Pods metric's average over the pods that had one
    (µs; None before the first read) and the replicas it wanted. The simulator's HPA records the same."""
    status = hpa.get("status") or {}
    current = next(iter(status.get("current_metrics") or []), None) or {}
    average = ((current.get("pods") or {}).get("current") or {}).get("average_value")
    return {"average_us": None if average is None else float(parse_quantity(average)),
            "desired": status.get("desired_replicas"), "current": status.get("current_replicas")}

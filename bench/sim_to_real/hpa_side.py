"""The HPA side: kube-controller-manager's HPA on the Triton chart's per-pod queue metric.

Triton's k8s-onprem chart scales on a Pods metric served by prometheus-adapter from
``avg(delta(nv_inference_queue_duration_us[30s]) / (1 + delta(nv_inference_request_success[30s]))) by (pod)``
with an AverageValue target. prometheus-adapter's module cannot be fetched here, so the test bed's
metrics adapter (``tools/gobin/metrics-adapter``, built from sigs.k8s.io/custom-metrics-apiserver)
serves the same rule. The HPA targets the DiffusionService's ``/scale`` subresource, as a platform team
would point an HPA or KEDA at the product; the operator renders what ``spec.replicas`` then says.
"""

from __future__ import annotations

from typing import Any

from bench.sim_to_real import settings
from testbed.realnode.product import API

METRIC = "triton_queue_us_per_request"


def chart_query(window_s: int) -> str:
    """The chart's rule, per pod of one namespace (the adapter fills in the namespace and pods)."""
    return (f"avg(delta(nv_inference_queue_duration_us{{<<.LabelMatchers>>}}[{window_s}s]) / "
            f"(1 + delta(nv_inference_request_success{{<<.LabelMatchers>>}}[{window_s}s]))) by (pod)")


def hpa_manifest(name: str, namespace: str, hpa: settings.HpaSettings | None = None) -> dict[str, Any]:
    """autoscaling/v2 with the chart's metric and autoscaling/v2's default behaviour, compressed."""
    hpa = hpa or settings.HpaSettings()
    period = hpa.policy_period_s
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": API, "kind": "DiffusionService", "name": name},
            "minReplicas": settings.MIN_REPLICAS,
            "maxReplicas": settings.MAX_REPLICAS,
            "metrics": [{"type": "Pods", "pods": {
                "metric": {"name": METRIC},
                "target": {"type": "AverageValue", "averageValue": str(int(hpa.target_us))}}}],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": period},
                    {"type": "Percent", "value": 100, "periodSeconds": period}]},
                "scaleDown": {"stabilizationWindowSeconds": hpa.down_stabilization_s, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": period}]},
            },
        },
    }

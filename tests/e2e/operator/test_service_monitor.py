"""Where the Prometheus Operator's CRDs exist, each service gets a ServiceMonitor for Triton's metrics."""

from __future__ import annotations

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from tests.e2e.support import API, phase_is, service, start_operator

# The ServiceMonitor CRD as the Prometheus Operator names it (schema trimmed: the API server only needs
# the kind to exist for this test; the operator's manifest is validated by the render unit tests).
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
             "names": {"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def test_a_service_monitor_is_created_when_its_crd_exists(cluster: Cluster, kube: KubeClient, namespace: str,
                                                          crds: None):
    kube.apply(SERVICE_MONITOR_CRD, field_manager="e2e")
    kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", "servicemonitors.monitoring.coreos.com",
                  None, lambda c: condition(c, "Established") == "True", what="Established")
    operator = start_operator(cluster, namespace, name="with-monitoring")
    try:
        kube.create(service("sdxl", namespace))
        kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
        kube.dynamic.resources.invalidate_cache()
        monitor = kube.wait_for("monitoring.coreos.com/v1", "ServiceMonitor", "sdxl", namespace, lambda m: True,
                                timeout=30).to_dict()
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert "diffusion.dev/service" in monitor["spec"]["podTargetLabels"]
    finally:
        operator.stop()

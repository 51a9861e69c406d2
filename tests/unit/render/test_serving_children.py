"""Service, ServiceMonitor, PodDisruptionBudget, endpoints, cache claim and owner references."""

from __future__ import annotations

import pytest
from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.names import selector_labels
from diffusion_operator.render.pods import owner_reference
from diffusion_operator.render.service import (
    build_pod_disruption_budget,
    build_service,
    build_service_monitor,
    endpoints,
)
from diffusion_operator.render.storage import build_engine_cache_claim


def test_service_exposes_named_ports_and_selects_the_triton_pods() -> None:
    service = build_service("sdxl", "team-a")
    assert service["metadata"] == {"name": "sdxl", "namespace": "team-a", "labels": service["metadata"]["labels"]}
    assert service["spec"]["selector"] == selector_labels("sdxl")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 8000, "http"), ("grpc", 8001, "grpc"), ("metrics", 8002, "metrics")]


def test_service_monitor_scrapes_metrics_and_keeps_service_and_engine_labels() -> None:
    monitor = build_service_monitor("sdxl", "team-a", RenderSettings())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"] == {"matchLabels": selector_labels("sdxl")}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    assert "diffusion.dev/service" in monitor["spec"]["podTargetLabels"]


@pytest.mark.parametrize(("replicas", "wanted"), [(0, False), (1, False), (2, True), (10, True)])
def test_pdb_only_with_more_than_one_replica(replicas: int, wanted: bool) -> None:
    pdb = build_pod_disruption_budget("sdxl", "team-a", replicas)
    assert (pdb is not None) == wanted
    if pdb is not None:
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"] == {"matchLabels": selector_labels("sdxl")}


def test_endpoints() -> None:
    assert endpoints("sdxl", "team-a") == {
        "http": "http://sdxl.team-a.svc:8000",
        "grpc": "sdxl.team-a.svc:8001",
        "metrics": "http://sdxl.team-a.svc:8002/metrics",
    }


def test_engine_cache_claim_is_shared_per_namespace() -> None:
    claim = build_engine_cache_claim("team-a", RenderSettings(cache_size="500Gi", cache_storage_class="filestore"))
    assert claim["metadata"]["name"] == "diffusion-engine-cache"
    assert claim["spec"] == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "500Gi"}},
                             "storageClassName": "filestore"}
    assert "storageClassName" not in build_engine_cache_claim("team-a", RenderSettings())["spec"]


def test_owner_reference_to_a_service() -> None:
    body = {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService",
            "metadata": {"name": "sdxl", "namespace": "team-a", "uid": "u-1"}}
    service = ServiceRef.of(body)
    assert service == ServiceRef("team-a", "sdxl", "u-1") and service.as_object() == body
    assert owner_reference(service) == {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService",
                                     "name": "sdxl", "uid": "u-1", "controller": True, "blockOwnerDeletion": True}
    assert owner_reference(service, controller=False)["controller"] is False

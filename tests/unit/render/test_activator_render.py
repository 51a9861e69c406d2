"""The activator's Deployment and identity as rendered: what restricted Pod Security, a PDB, spreading
and its hold deadline need."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.render.activator import (
    build_activator_deployment,
    build_activator_role,
    build_backend_service,
    hold_deadline_seconds,
    scales_to_zero,
)
from diffusion_operator.render.defaults import RenderSettings


def spec(**autoscaling: Any) -> DiffusionServiceSpec:
    return DiffusionServiceSpec.model_validate({"model": {"source": "builtin://tiny-sdxl"}, "autoscaling": {
        "enabled": True, "minReplicas": 0, "maxReplicas": 3, "queueLatencyTarget": "2s", **autoscaling}})


@pytest.mark.parametrize(("autoscaling", "expected"), [
    ({}, True),
    ({"minReplicas": 1}, False),
    ({"enabled": False, "maxReplicas": None, "queueLatencyTarget": None}, False),
])
def test_only_an_autoscaled_service_with_min_replicas_zero_gets_an_activator(autoscaling, expected):
    assert scales_to_zero(spec(**autoscaling)) is expected


@pytest.mark.parametrize(("budget", "target", "expected"), [(1200, "2s", 1202), (300, "500ms", 301), (60, "30s", 90)])
def test_a_request_is_held_for_the_startup_budget_plus_the_queue_sla(budget, target, expected):
    settings = RenderSettings(startup_budget_seconds=budget)
    assert hold_deadline_seconds(spec(queueLatencyTarget=target), settings) == expected


def test_the_activator_runs_two_spread_restricted_read_only_replicas():
    settings = RenderSettings(activator_image="op:1", activator_queue_limit=7,
                              activator_node_selector={"pool": "cpu"},
                              activator_tolerations=({"key": "k", "operator": "Exists", "effect": "NoSchedule"},))
    deployment = build_activator_deployment("sdxl", "ns", spec(), settings)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "op:1"
    assert "--queue-limit=7" in container["args"] and "--backend=sdxl-backend.ns.svc" in container["args"]
    assert "--deadline-seconds=1202" in container["args"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["runAsNonRoot"]
    assert security["capabilities"]["drop"] == ["ALL"]
    assert not security["allowPrivilegeEscalation"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert pod["serviceAccountName"] == "sdxl-activator"
    assert pod["nodeSelector"] == {"pool": "cpu"} and pod["tolerations"][0]["key"] == "k"
    assert "nvidia.com/gpu" not in str(container["resources"])


def test_the_activator_may_read_its_own_service_and_backend_and_nothing_else():
    service, backend = build_activator_role("sdxl", "ns")["rules"]
    assert service == {"apiGroups": ["diffusion.dev"], "resources": ["diffusionservices"], "resourceNames": ["sdxl"],
                       "verbs": ["get"]}
    assert backend == {"apiGroups": [""], "resources": ["services"], "resourceNames": ["sdxl-backend"],
                       "verbs": ["get"]}


def test_the_backend_service_selects_triton_and_keeps_its_scrape_labels():
    backend = build_backend_service("sdxl", "ns")
    assert backend["spec"]["selector"]["app.kubernetes.io/name"] == "triton"
    assert backend["metadata"]["labels"]["app.kubernetes.io/name"] == "triton"

"""With minReplicas 0 the activator fronts the service; without, it is gone: both ways are one reconcile."""

from __future__ import annotations

from typing import Any

from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import DiffusionServiceStatus
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.reconcile.children import ChildRef, DesiredChildren, desired_children
from diffusion_operator.reconcile.decide import Decision
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.replicas import replica_ownership

from tests.unit.reconcile.builds import build_for

KEY = "sdxl-key"
TO_ZERO = {"enabled": True, "minReplicas": 0, "maxReplicas": 4, "queueLatencyTarget": "1s"}


def service(**spec: Any) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 1},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}, **spec}})


def run(svc: DiffusionService, *, activator_exists: bool, monitor: bool = True) -> DesiredChildren:
    dec = Decision(cache_key=KEY, build_engine=False, adopt_build=False, serving_key=KEY,
                   replica_ownership=replica_ownership(svc.spec), status=DiffusionServiceStatus(desired_replicas=1),
                   build=build_for(svc.spec))
    obs = Observation(desired_job=JobState(f"engine-{KEY}", "Succeeded"), serving_job=None,
                      deployment=DeploymentState(name="s", exists=True, serving_key=KEY, replicas=1),
                      service_monitor_supported=monitor, activator_exists=activator_exists)
    return desired_children(svc, obs, dec, plan_for(svc.spec, "10.13.3", "onnxruntime"), RenderSettings(),
                            force=True)


def applied(desired: DesiredChildren) -> list[tuple[str, str]]:
    assert desired.serving is not None
    return [(child["kind"], child["metadata"]["name"]) for child in desired.serving.apply]


def test_min_replicas_zero_renders_the_activator_before_pointing_the_client_service_at_it():
    desired = run(service(autoscaling=TO_ZERO), activator_exists=False)
    assert applied(desired) == [
        ("Deployment", "s"), ("Service", "s-backend"), ("ServiceAccount", "s-activator"), ("Role", "s-activator"),
        ("RoleBinding", "s-activator"), ("Deployment", "s-activator"), ("PodDisruptionBudget", "s-activator"),
        ("Service", "s"), ("ServiceMonitor", "s"), ("ServiceMonitor", "s-activator"),
    ]
    assert desired.serving is not None
    client = next(c for c in desired.serving.apply if c["kind"] == "Service" and c["metadata"]["name"] == "s")
    assert client["spec"]["selector"]["app.kubernetes.io/name"] == "activator"
    assert not any(ref.name.endswith("activator") for ref in desired.serving.delete)


def test_min_replicas_above_zero_deletes_what_the_activator_left():
    desired = run(service(autoscaling={**TO_ZERO, "minReplicas": 1}), activator_exists=True)
    assert ("Service", "s") in applied(desired) and ("Deployment", "s-activator") not in applied(desired)
    assert desired.serving is not None
    deleted = [(ref.kind, ref.name) for ref in desired.serving.delete]
    for child in [("Deployment", "s-activator"), ("Service", "s-backend"), ("Role", "s-activator"),
                  ("RoleBinding", "s-activator"), ("ServiceAccount", "s-activator"),
                  ("PodDisruptionBudget", "s-activator"), ("ServiceMonitor", "s-activator")]:
        assert child in deleted
    assert deleted[-1] == ("Deployment", "s-activator"), "the Deployment goes last, so a crash midway retries"
    assert ChildRef("v1", "Service", "s", "n") not in desired.serving.delete


def test_without_an_activator_nothing_of_it_is_deleted():
    desired = run(service(autoscaling={**TO_ZERO, "minReplicas": 1}), activator_exists=False)
    assert desired.serving is not None
    assert not any("activator" in ref.name or ref.name.endswith("backend") for ref in desired.serving.delete)


def test_the_service_monitor_is_not_deleted_where_the_cluster_has_none():
    desired = run(service(autoscaling={**TO_ZERO, "minReplicas": 1}), activator_exists=True, monitor=False)
    assert desired.serving is not None
    assert "ServiceMonitor" not in {ref.kind for ref in desired.serving.delete}


def test_the_network_policy_lets_clients_reach_the_activator_and_only_the_activator_reach_triton():
    policy = {"enabled": True, "allowedClients": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}
    desired = run(service(autoscaling=TO_ZERO, serving={"networkPolicy": policy}), activator_exists=False)
    assert desired.serving is not None
    policies = {c["metadata"]["name"]: c for c in desired.serving.apply if c["kind"] == "NetworkPolicy"}
    triton, activator = policies["s"], policies["s-activator"]
    assert triton["spec"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "activator", "app.kubernetes.io/instance": "s"}}}]
    assert activator["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "activator"
    assert activator["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"role": "frontend"}}}]
    assert {p["port"] for p in activator["spec"]["ingress"][0]["ports"]} == {8000, 8001}

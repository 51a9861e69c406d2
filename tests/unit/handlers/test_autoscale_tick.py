"""One autoscaler tick end to end against a scripted gateway: the count goes to the Deployment under the
autoscaler's field manager, the status gets the autoscaler's fields (not desiredReplicas), the one
shared HTTP session is what the Prometheus client uses, and a refused write is on the object."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.autoscaling import Observation
from diffusion_operator.config import OperatorConfig
from diffusion_operator.handlers import autoscale
from diffusion_operator.handlers.runtime import Runtime
from diffusion_operator.k8s.gateway import KubeError

REF = ServiceRef("n", "s", "u1")
BODY = {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService",
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 2},
        "spec": {"model": {"source": "builtin://tiny-sdxl"},
                 "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 8, "queueLatencyTarget": "1s"}}}
DEPLOYMENT = {"spec": {"replicas": 2}, "status": {"readyReplicas": 2}}


class Gateway:
    def __init__(self, objects: dict[str, dict[str, Any] | None], refuse: KubeError | None = None) -> None:
        self.objects = objects
        self.refuse = refuse
        self.applied: list[tuple[dict[str, Any], str]] = []
        self.patched: list[dict[str, Any]] = []
        self.listed: list[str] = []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        return self.objects.get(kind)

    def apply(self, manifest: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        if self.refuse is not None:
            raise self.refuse
        self.applied.append((manifest, field_manager))
        return manifest

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str, status: dict[str, Any]) -> None:
        self.patched.append(status)

    def pods_of(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.listed.append(label_selector)
        return [{"metadata": {"name": "sdxl-triton-a", "creationTimestamp": "2026-12-03T10:00:00Z"},
                 "status": {"conditions": [{"type": "Ready", "status": "True",
                                            "lastTransitionTime": "2026-12-03T10:01:24Z"}]}}]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []
    monkeypatch.setattr(autoscale.kopf, "event", lambda body, **kw: posted.append(kw))
    return posted


def tick(gateway: Gateway, monkeypatch: pytest.MonkeyPatch, observation: Observation) -> Any:
    seen: dict[str, Any] = {}

    async def fake_observe(client: Any, queries: Any, *, current_replicas: int, ready_replicas: int) -> Observation:
        seen.update(session=client._session, url=client.base_url, current=current_replicas)
        return observation

    monkeypatch.setattr(autoscale, "observe", fake_observe)

    async def scenario() -> Any:
        session = object()  # stands in for the runtime's one aiohttp session
        runtime = Runtime(gateway=gateway, config=OperatorConfig(), prometheus=session)  # type: ignore[arg-type]
        plan = await autoscale.autoscale_once(runtime, REF)
        assert not runtime.lock_for("u1").locked()
        return plan, session

    decision, session = asyncio.run(scenario())
    if seen:
        assert seen["session"] is session and seen["current"] == 2
    return decision


def test_a_busy_service_scales_up_through_the_autoscalers_field_manager(monkeypatch, events) -> None:
    gateway = Gateway({"DiffusionService": BODY, "Deployment": DEPLOYMENT})
    busy = Observation(current_replicas=2, ready_replicas=2, queue_latency_s=5.0, pending_requests=40.0,
                       arrival_rate=4.0, service_time_s=1.0, batch_size=1.0)
    decision = tick(gateway, monkeypatch, busy).decision
    assert decision.replicas > 2
    ((manifest, manager),) = gateway.applied
    assert manager == "diffusion-operator-autoscaler" and manifest["spec"] == {"replicas": decision.replicas}
    (status,) = gateway.patched
    assert "desiredReplicas" not in status  # the lifecycle's field, read back from the Deployment
    assert {"autoscaling", "queue", "conditions"} <= set(status)
    assert [e["reason"] for e in events] == ["ScaledUp"]


def test_no_deployment_yet_means_no_tick(monkeypatch, events) -> None:
    gateway = Gateway({"DiffusionService": BODY, "Deployment": None})
    assert tick(gateway, monkeypatch, Observation(current_replicas=0, ready_replicas=0)) is None
    assert gateway.applied == gateway.patched == [] and events == []


def test_the_cold_start_is_measured_from_the_services_own_pods(monkeypatch, events) -> None:
    gateway = Gateway({"DiffusionService": BODY, "Deployment": DEPLOYMENT})
    steady = Observation(current_replicas=2, ready_replicas=2, queue_latency_s=0.1, pending_requests=0.0,
                         arrival_rate=0.1, service_time_s=1.0, batch_size=1.0)
    tick(gateway, monkeypatch, steady)
    assert len(gateway.listed) == 1
    (status,) = gateway.patched
    assert status["autoscaling"]["coldStart"] == {"seconds": 84.0,
                                                  "samples": [{"pod": "sdxl-triton-a", "seconds": 84.0}]}


BUSY = Observation(current_replicas=2, ready_replicas=2, queue_latency_s=5.0, pending_requests=40.0,
                   arrival_rate=4.0, service_time_s=1.0, batch_size=1.0)


def test_a_refused_scale_write_is_on_the_object_and_clears_on_the_next_success(monkeypatch, events) -> None:
    quota = KubeError("apply Deployment n/s: HTTP 403 exceeded quota: gpu-quota", 403, "Forbidden")
    refused = Gateway({"DiffusionService": BODY, "Deployment": DEPLOYMENT}, refuse=quota)
    tick(refused, monkeypatch, BUSY)
    (status,) = refused.patched
    able = {c["type"]: c for c in status["conditions"]}["AbleToScale"]
    assert (able["status"], able["reason"]) == ("False", "FailedUpdateScale")
    assert "exceeded quota" in able["message"] and "Deployment s" in able["message"]
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "FailedRescale")]  # no ScaledUp
    assert status["autoscaling"]["history"]["scaleEvents"] == []  # the change never happened
    assert status["autoscaling"].get("lastScaleTime") is None

    events.clear()
    after = {**BODY, "status": status}
    granted = Gateway({"DiffusionService": after, "Deployment": DEPLOYMENT})
    tick(granted, monkeypatch, BUSY)
    (status,) = granted.patched
    able = {c["type"]: c for c in status["conditions"]}["AbleToScale"]
    assert (able["status"], able["reason"]) == ("True", "ReadyForNewScale")
    assert [e["reason"] for e in events] == ["ScaledUp"]

"""The autoscaler's writes against a scripted gateway: the pods ranked before the count goes down, each
refusal named (a pod gone meanwhile is not one), the count under the autoscaler's field manager."""

from __future__ import annotations

from typing import Any

from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.autoscaling.tick import Ranking, TickPlan
from diffusion_operator.k8s.autoscaler import write_plan
from diffusion_operator.k8s.gateway import KubeError

REF = ServiceRef("n", "s", "u1")


class Gateway:
    def __init__(self, refuse: dict[str, KubeError] | None = None) -> None:
        self.refuse = refuse or {}
        self.applied: list[tuple[str, str, Any]] = []

    def apply(self, manifest: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        if name in self.refuse:
            raise self.refuse[name]
        self.applied.append((manifest["kind"], name, field_manager))
        return manifest

    def pods_of(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return [{"metadata": {"name": "p1"}}, {"metadata": {"name": "p2"}},
                {"metadata": {"name": "p3", "deletionTimestamp": "2026-12-03T10:00:00Z"}}]


def plan(replicas: int | None, ranking: Ranking | None) -> TickPlan:
    return TickPlan(decision=None, replicas=replicas, ranking=ranking, speed_tier=None,  # type: ignore[arg-type]
                    cold_start=None, status=None, notices=(), target_s=1.0)  # type: ignore[arg-type]


WORK = ({"p1": 2.0}, {"p2": 5.0})


def test_unlisted_pods_are_listed_ranked_then_the_count_written() -> None:
    gateway = Gateway()
    failures = write_plan(gateway, REF, plan(1, Ranking(None)), WORK)  # type: ignore[arg-type]
    assert failures == [None, None]
    assert gateway.applied == [("Pod", "p1", "diffusion-operator-autoscaler"),
                               ("Pod", "p2", "diffusion-operator-autoscaler"),
                               ("Deployment", "s", "diffusion-operator-autoscaler")]


def test_without_pod_work_nothing_is_ranked() -> None:
    gateway = Gateway()
    write_plan(gateway, REF, plan(1, Ranking(("p1",))), None)  # type: ignore[arg-type]
    assert gateway.applied == [("Deployment", "s", "diffusion-operator-autoscaler")]


def test_a_pod_gone_is_no_failure_but_a_refusal_is_named() -> None:
    gateway = Gateway({"p1": KubeError("gone", 404), "p2": KubeError("apply Pod n/p2: HTTP 403 forbidden", 403)})
    ranked, scaled = write_plan(gateway, REF, plan(1, Ranking(("p1", "p2"))), WORK)  # type: ignore[arg-type]
    assert ranked is not None and ranked.reason == Reason.FAILED_UPDATE_DELETION_COST
    assert "1 pod(s)" in ranked.detail and "Pod p2" in ranked.detail and "p1" not in ranked.detail
    assert scaled is None


def test_a_refused_count_is_named_with_the_apis_answer() -> None:
    gateway = Gateway({"s": KubeError("apply Deployment n/s: HTTP 409 conflict", 409)})
    (scaled,) = write_plan(gateway, REF, plan(3, None), None)  # type: ignore[arg-type]
    assert scaled is not None and scaled.reason == Reason.FAILED_UPDATE_SCALE
    assert scaled.detail == ("the autoscaler could not set Deployment s to 3 replicas: "
                             "apply Deployment n/s: HTTP 409 conflict")

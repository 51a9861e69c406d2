"""The edge's two conversations with the API server, against a scripted gateway: joining a shared
build's owners under contention, and handing spec.replicas over to the autoscaler."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from diffusion_operator.k8s.children import (
    JOIN_ATTEMPTS,
    ChildError,
    apply_desired,
    hand_replicas_to_autoscaler,
    join_build,
)
from diffusion_operator.k8s.gateway import KubeError, _wrap
from diffusion_operator.reconcile.children import ChildRef, DesiredChildren, EngineBuild, ServingChildren
from diffusion_operator.reconcile.observation import JobState
from kubernetes.client.exceptions import ApiException

OWNER = {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService", "name": "s", "uid": "u1",
         "controller": False, "blockOwnerDeletion": True}
BUILD = EngineBuild(namespace="n", cache_key="k", job_name="engine-k", start=False,
                    namespace_objects=({"kind": "PersistentVolumeClaim", "metadata": {"name": "cache"}},),
                    owned=({"kind": "ConfigMap", "metadata": {"name": "engine-k-plan"}},
                           {"kind": "Job", "metadata": {"name": "engine-k"}}),
                    owner=OWNER, field_manager="diffusion-operator.u1", uid="u1")


class Gateway:
    """Answers applies from a script (an exception or None per call) and reads from ``objects``."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]] | None = None,
                 failures: list[KubeError | None] | None = None) -> None:
        self.objects = objects or {}
        self.failures = list(failures or [])
        self.applied: list[tuple[str, str, str, dict[str, Any]]] = []
        self.deleted: list[tuple[str, str]] = []

    def apply(self, manifest: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.applied.append((manifest["kind"], manifest["metadata"]["name"], field_manager, manifest))
        return {**manifest, "metadata": {**manifest["metadata"], "managedFields": [
            {"manager": field_manager, "fieldsV1": {"f:spec": {"f:replicas": {}}}}]}}

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None, *,
               uid: str | None = None) -> None:
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.deleted.append((kind, name) if uid is None else (kind, name, uid))

    def owns_field(self, obj: dict[str, Any], manager: str, path: tuple[str, ...]) -> bool:
        return any(entry.get("manager") == manager for entry in obj["metadata"].get("managedFields") or [])


def job(owners: set[str], version: str = "7") -> JobState:
    return JobState("engine-k", "Running", owner_uids=frozenset(owners), resource_version=version)


def job_object(owners: list[str], version: str) -> dict[str, Any]:
    return {"metadata": {"name": "engine-k", "resourceVersion": version,
                         "ownerReferences": [{"uid": uid} for uid in owners]}, "status": {"active": 1}}


def test_joining_adds_this_owner_to_the_job_and_its_plan_conditionally_on_what_was_seen() -> None:
    gateway = Gateway()
    assert join_build(gateway, BUILD, job({"other"})) is True  # type: ignore[arg-type]
    (job_kind, _, manager, job_patch), (plan_kind, plan_name, _, _) = gateway.applied
    assert (job_kind, plan_kind, plan_name, manager) == ("Job", "ConfigMap", "engine-k-plan", "diffusion-operator.u1")
    assert job_patch["metadata"] == {"name": "engine-k", "namespace": "n", "ownerReferences": [OWNER],
                                     "resourceVersion": "7"}


def test_a_contended_join_rereads_the_job_and_follows_when_the_last_slot_went() -> None:
    full = [f"o{i}" for i in range(16)]
    gateway = Gateway(objects={("Job", "engine-k"): job_object(full, "8")}, failures=[KubeError("conflict", 409)])
    assert join_build(gateway, BUILD, job({"o1"})) is True  # type: ignore[arg-type]
    assert gateway.applied == []  # the re-read Job had no free slot: follow it without owning it


def test_a_join_retries_with_the_fresh_resource_version() -> None:
    gateway = Gateway(objects={("Job", "engine-k"): job_object(["other"], "8")}, failures=[KubeError("conflict", 409)])
    assert join_build(gateway, BUILD, job({"other"})) is True  # type: ignore[arg-type]
    assert gateway.applied[0][3]["metadata"]["resourceVersion"] == "8"


def test_a_build_that_vanished_is_not_joined_but_reported_for_a_fresh_start() -> None:
    gateway = Gateway(failures=[KubeError("gone", 404)])
    assert join_build(gateway, BUILD, job({"other"})) is False  # type: ignore[arg-type]
    desired = DesiredChildren(build=BUILD, serving=None, applied_hash=None)
    restart = Gateway(failures=[KubeError("gone", 404)])
    apply_desired(restart, desired, job({"other"}))  # type: ignore[arg-type]
    assert [(kind, manager) for kind, _, manager, _ in restart.applied] == [
        ("PersistentVolumeClaim", "diffusion-operator"), ("ConfigMap", "diffusion-operator.u1"),
        ("Job", "diffusion-operator.u1")]


def test_still_contended_after_every_attempt_it_follows_for_now() -> None:
    gateway = Gateway(objects={("Job", "engine-k"): job_object(["other"], "9")},
                      failures=[KubeError("conflict", 409)] * JOIN_ATTEMPTS)
    assert join_build(gateway, BUILD, job({"other"})) is True  # type: ignore[arg-type]
    assert gateway.applied == []


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s", "namespace": "n"},
              "spec": {"template": {}}}


def test_a_new_autoscaled_deployment_is_created_at_the_initial_count_then_handed_over() -> None:
    gateway = Gateway()
    hand_replicas_to_autoscaler(gateway, DEPLOYMENT, 2)  # type: ignore[arg-type]
    (_, _, first_manager, created), (_, _, second_manager, handed) = gateway.applied
    assert (first_manager, created["spec"]["replicas"]) == ("diffusion-operator", 2)
    assert second_manager == "diffusion-operator-autoscaler"
    assert handed["spec"] == {"replicas": 2} and set(handed["metadata"]) == {"name", "namespace"}


def test_an_existing_count_is_kept_when_it_is_handed_over_and_not_touched_once_it_is() -> None:
    running = {**DEPLOYMENT, "spec": {"replicas": 5}, "metadata": {**DEPLOYMENT["metadata"], "managedFields": []}}
    gateway = Gateway(objects={("Deployment", "s"): running})
    hand_replicas_to_autoscaler(gateway, DEPLOYMENT, 2)  # type: ignore[arg-type]
    assert [(manager, manifest["spec"]) for _, _, manager, manifest in gateway.applied] == [
        ("diffusion-operator-autoscaler", {"replicas": 5})]
    owned = {**running, "metadata": {**running["metadata"], "managedFields": [
        {"manager": "diffusion-operator-autoscaler"}]}}
    again = Gateway(objects={("Deployment", "s"): owned})
    hand_replicas_to_autoscaler(again, DEPLOYMENT, 2)  # type: ignore[arg-type]
    assert again.applied == []


def test_serving_children_are_applied_in_order_then_the_unwanted_deleted() -> None:
    serving = ServingChildren(apply=(DEPLOYMENT, {"kind": "Service", "metadata": {"name": "s"}}),
                              delete=(ChildRef("policy/v1", "PodDisruptionBudget", "s", "n"),),
                              hand_over_replicas=None, deployment=DEPLOYMENT)
    gateway = Gateway()
    apply_desired(gateway, DesiredChildren(build=None, serving=serving, applied_hash="h"),  # type: ignore[arg-type]
                  job(set()))
    assert [(kind, manager) for kind, _, manager, _ in gateway.applied] == [
        ("Deployment", "diffusion-operator"), ("Service", "diffusion-operator")]
    assert gateway.deleted == [("PodDisruptionBudget", "s")]


RETIRED = ChildRef("batch/v1", "Job", "engine-k", "n", "job-uid-1")


def test_a_retired_build_is_deleted_by_its_uid_before_anything_is_applied() -> None:
    gateway = Gateway()
    serving = ServingChildren(apply=(DEPLOYMENT,), delete=(), hand_over_replicas=None, deployment=DEPLOYMENT)
    apply_desired(gateway, DesiredChildren(build=None, serving=serving, applied_hash="h",  # type: ignore[arg-type]
                                           retired_build=RETIRED), job(set()))
    assert gateway.deleted == [("Job", "engine-k", "job-uid-1")]
    assert [kind for kind, *_ in gateway.applied] == ["Deployment"]


def test_a_build_rebuilt_by_another_user_already_is_left_alone() -> None:
    """409: a newer Job of that name stands (the uid differs): the rebuild is under way, nothing to do."""
    gateway = Gateway(failures=[KubeError("Precondition failed: UID in precondition: job-uid-1", 409)])
    apply_desired(gateway, DesiredChildren(build=None, serving=None, applied_hash=None,  # type: ignore[arg-type]
                                           retired_build=RETIRED), job(set()))
    assert gateway.deleted == []


def test_a_refused_deletion_of_a_retired_build_names_the_job() -> None:
    gateway = Gateway(failures=[KubeError("jobs.batch is forbidden", 403, "Forbidden")])
    with pytest.raises(ChildError, match=r"^Job/engine-k: jobs.batch is forbidden"):
        apply_desired(gateway, DesiredChildren(build=None, serving=None, applied_hash=None,  # type: ignore[arg-type]
                                               retired_build=RETIRED), job(set()))


def test_a_refused_child_is_named_in_the_error() -> None:
    quota = KubeError("apply Service n/s: HTTP 403 services \"s\" is forbidden: exceeded quota", 403, "Forbidden")
    serving = ServingChildren(apply=(DEPLOYMENT, {"kind": "Service", "metadata": {"name": "s"}}), delete=(),
                              hand_over_replicas=None, deployment=DEPLOYMENT)
    gateway = Gateway(failures=[None, quota])
    with pytest.raises(ChildError) as refused:
        apply_desired(gateway, DesiredChildren(build=None, serving=serving, applied_hash="h"), job(set()))
    assert refused.value.child == "Service/s" and str(refused.value).startswith("Service/s: ")
    assert (refused.value.status, refused.value.reason) == (403, "Forbidden")  # kopf's retry and the 404 check


def test_a_refused_build_object_is_named_too() -> None:
    gateway = Gateway(failures=[None, KubeError("denied", 403)])
    with pytest.raises(ChildError, match=r"^ConfigMap/engine-k-plan: denied"):
        apply_desired(gateway, DesiredChildren(build=replace(BUILD, start=True), serving=None, applied_hash="h"),
                      job(set()))


def test_the_api_servers_answer_is_read_from_its_status_object() -> None:
    body = json.dumps({"kind": "Status", "reason": "Forbidden",
                       "message": 'deployments.apps "s" is forbidden: exceeded quota: gpus'})
    error = _wrap(ApiException(status=403, reason="Forbidden", http_resp=None), "apply Deployment n/s")
    assert error.status == 403
    answered = ApiException(status=403, reason="Forbidden")
    answered.body = body
    named = _wrap(answered, "apply Deployment n/s")
    assert str(named) == 'apply Deployment n/s: HTTP 403 deployments.apps "s" is forbidden: exceeded quota: gpus'
    assert named.reason == "Forbidden"

"""desired_children as a table: a decision and what was observed in, the children to apply and delete out."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import DiffusionServiceStatus
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.reconcile.children import ChildRef, DesiredChildren, desired_children, serving_manifests
from diffusion_operator.reconcile.decide import Decision
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation, OomKill
from diffusion_operator.reconcile.oom_retry import OomRetry
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.replicas import replica_ownership

from tests.unit.reconcile.builds import build_for

KEY = "sdxl-key"
SETTINGS = RenderSettings()
OWNER = {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService", "name": "s", "uid": "u1",
         "controller": True, "blockOwnerDeletion": True}
TEMPLATE = {"metadata": {"labels": {"previous": "revision"}}, "spec": {"containers": []}}
PDB = ChildRef("policy/v1", "PodDisruptionBudget", "s", "n")
POLICY = ChildRef("networking.k8s.io/v1", "NetworkPolicy", "s", "n")
AUTOSCALED = {"enabled": True, "minReplicas": 2, "maxReplicas": 4, "queueLatencyTarget": "1s"}


def service(desired_replicas: int | None = None, **spec: Any) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 1},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}, **spec},
        "status": {"desiredReplicas": desired_replicas} if desired_replicas is not None else {},
    })


def decision(svc: DiffusionService, *, serving_key: str | None = KEY, build_engine: bool = False,
             adopt_build: bool = False, desired: int = 1, **kw: Any) -> Decision:
    return Decision(cache_key=KEY, build_engine=build_engine, adopt_build=adopt_build, serving_key=serving_key,
                    replica_ownership=replica_ownership(svc.spec),
                    status=DiffusionServiceStatus(desired_replicas=desired), build=build_for(svc.spec), **kw)


def deployment(exists: bool = True, replicas: int = 1, applied_hash: str | None = None) -> DeploymentState:
    return DeploymentState(name="s", exists=exists, serving_key=KEY if exists else None, replicas=replicas,
                           applied_hash=applied_hash)


def run(svc: DiffusionService, dec: Decision, state: DeploymentState, *, force: bool = False,
        monitor: bool = False, job: JobState | None = None) -> DesiredChildren:
    obs = Observation(desired_job=job or JobState(f"engine-{KEY}", "Succeeded"), serving_job=None,
                      deployment=state, service_monitor_supported=monitor)
    return desired_children(svc, obs, dec, plan_for(svc.spec, "10.13.3", "onnxruntime"), SETTINGS, force=force)


def kinds(desired: DesiredChildren) -> list[str]:
    assert desired.serving is not None
    return [child["kind"] for child in desired.serving.apply]


def current_hash(svc: DiffusionService, dec: Decision, replicas: int = 1, monitor: bool = False) -> str:
    deployment_manifest = serving_manifests(svc, dec, SETTINGS, serving_key=KEY, monitor=monitor,
                                            current_replicas=replicas)[0]
    return str(deployment_manifest["metadata"]["annotations"]["diffusion.dev/applied-hash"])


@pytest.mark.parametrize(("name", "svc", "state", "desired", "monitor", "apply", "delete"), [
    ("new service", service(), deployment(exists=False, replicas=0), 1, False,
     ["Deployment", "Service"], ()),
    ("with a ServiceMonitor", service(), deployment(exists=False, replicas=0), 1, True,
     ["Deployment", "Service", "ServiceMonitor"], ()),
    ("two replicas get a PDB", service(replicas=2), deployment(replicas=2), 2, False,
     ["Deployment", "Service", "PodDisruptionBudget"], (POLICY,)),
    ("back to one: the PDB goes", service(desired_replicas=2), deployment(replicas=1), 1, False,
     ["Deployment", "Service"], (PDB, POLICY)),
    ("a NetworkPolicy when enabled", service(serving={"networkPolicy": {"enabled": True}}), deployment(), 1,
     False, ["Deployment", "Service", "NetworkPolicy"], ()),
])
def test_the_serving_children_and_what_to_delete(name, svc, state, desired, monitor, apply, delete) -> None:
    desired_state = run(svc, decision(svc, desired=desired), state, monitor=monitor)
    assert kinds(desired_state) == apply, name
    assert desired_state.serving is not None and desired_state.serving.delete == delete, name
    assert all(child["metadata"]["ownerReferences"] == [OWNER] for child in desired_state.serving.apply)


def test_unchanged_children_are_not_sent_unless_forced() -> None:
    svc = service()
    dec = decision(svc)
    digest = current_hash(svc, dec)
    quiet = run(svc, dec, deployment(applied_hash=digest))
    assert quiet.serving is None and quiet.applied_hash == digest
    forced = run(svc, dec, deployment(applied_hash=digest), force=True)
    assert forced.serving is not None and forced.applied_hash == digest
    changed = run(service(serving={"image": "triton:next"}), dec, deployment(applied_hash=digest))
    assert changed.serving is not None and changed.applied_hash != digest


def test_the_deployment_carries_the_hash_of_every_serving_child() -> None:
    svc = service()
    desired_state = run(svc, decision(svc), deployment(exists=False))
    assert desired_state.serving is not None
    annotations = desired_state.serving.apply[0]["metadata"]["annotations"]
    assert annotations["diffusion.dev/applied-hash"] == desired_state.applied_hash == current_hash(svc, decision(svc))


def test_a_rollback_restores_the_previous_template_under_the_same_hash() -> None:
    svc = service()
    dec = decision(svc, rollback_template=TEMPLATE)
    digest = current_hash(svc, dec)
    desired_state = run(svc, dec, deployment(applied_hash=digest))
    assert desired_state.serving is not None, "a rollback is sent even when the hash did not change"
    restored = desired_state.serving.apply[0]
    assert restored["kind"] == "Deployment" and restored["spec"]["template"] == TEMPLATE
    assert restored["metadata"]["annotations"]["diffusion.dev/applied-hash"] == digest
    assert desired_state.serving.deployment["spec"]["template"] != TEMPLATE  # the hand-over's copy is the rendered one


def test_while_a_rollback_holds_the_deployment_is_left_alone() -> None:
    svc = service()
    desired_state = run(svc, decision(svc, hold_template=True), deployment(), force=True)
    assert kinds(desired_state) == ["Service"]


@pytest.mark.parametrize(("spec", "hand_over", "replicas"), [
    ({}, None, 1),
    ({"replicas": 3}, None, 3),
    ({"autoscaling": AUTOSCALED}, 2, None),  # the autoscaler's: handed over at minReplicas, left out
    ({"autoscaling": {**AUTOSCALED, "minReplicas": 0, "activation": {"query": "q"}}}, 1, None),
])
def test_the_replica_count_is_written_by_its_one_owner(spec, hand_over, replicas) -> None:
    svc = service(**spec)
    desired_state = run(svc, decision(svc), deployment(exists=False))
    assert desired_state.serving is not None
    assert desired_state.serving.hand_over_replicas == hand_over
    assert desired_state.serving.apply[0]["spec"].get("replicas") == replicas


def test_nothing_is_served_before_a_build_succeeded() -> None:
    svc = service()
    desired_state = run(svc, decision(svc, serving_key=None), deployment(exists=False))
    assert desired_state == DesiredChildren(build=None, serving=None, applied_hash=None)


@pytest.mark.parametrize(("build_engine", "adopt_build", "start"), [
    (True, False, True),  # no Job yet: start the build
    (False, True, False),  # another service's build: join its owners
    (False, False, None),  # already an owner, or following a build whose owner slots are full
])
def test_the_shared_build_is_started_or_joined(build_engine: bool, adopt_build: bool, start: bool | None) -> None:
    svc = service()
    desired_state = run(svc, decision(svc, serving_key=None, build_engine=build_engine, adopt_build=adopt_build),
                        deployment(exists=False), job=JobState(f"engine-{KEY}", "Missing"))
    build = desired_state.build
    if start is None:
        assert build is None
        return
    assert build is not None and build.start is start
    assert [m["kind"] for m in build.namespace_objects] == ["PersistentVolumeClaim", "ServiceAccount"]
    assert [m["kind"] for m in build.owned] == ["ConfigMap", "Job"]
    assert all(m["metadata"]["ownerReferences"] == [{**OWNER, "controller": False}] for m in build.owned)
    assert build.field_manager == "diffusion-operator.u1"
    assert build.job_name == build.owned[1]["metadata"]["name"]


@pytest.mark.parametrize("serving_key", [None, KEY])
def test_an_oom_retry_deletes_that_failed_job_by_its_uid_whatever_serves(serving_key: str | None) -> None:
    svc = service()
    retry = OomRetry(f"engine-{KEY}", "job-uid-1", OomKill("b-1", "16Gi"), "24Gi")
    desired_state = run(svc, decision(svc, serving_key=serving_key, oom_retry=retry), deployment(exists=False),
                        job=JobState(f"engine-{KEY}", "Failed", uid="job-uid-1"))
    assert desired_state.retired_build == ChildRef("batch/v1", "Job", f"engine-{KEY}", "n", "job-uid-1")
    assert desired_state.build is None  # built again by the next reconcile, once this Job is gone


def test_without_a_retry_no_build_is_deleted() -> None:
    svc = service()
    assert run(svc, decision(svc), deployment()).retired_build is None

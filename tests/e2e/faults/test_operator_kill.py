"""Fault: the operator is SIGKILLed mid-work (no shutdown handlers run, nothing is flushed).

Expectation for every case: a new operator process converges the service from what is on the API
server alone, with no duplicate Jobs, no orphaned children, and a status that matches the children.
(Two peered replicas never acting together is tests/e2e/operator/test_lifecycle.py's
``test_two_peered_operators_never_both_act``.)
"""

from __future__ import annotations

import time

from testbed.kube import KubeClient, condition
from tests.e2e.faults.support import BUSY, FAST_AUTOSCALER, Figures, autoscaled, signal_values
from tests.e2e.support import API, HOLD, jobs, phase_is, service, start_operator

ENGINE_KEY = "diffusion.dev/engine-key"


def engine_status(obj) -> dict:
    return (obj.to_dict().get("status") or {}).get("engine") or {}


def owned_by(kube: KubeClient, namespace: str, uid: str) -> list[str]:
    """Every object in the namespace that still names ``uid`` as an owner."""
    found = []
    for api_version, kind in (("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("v1", "Service"),
                              ("batch/v1", "Job"), ("v1", "ConfigMap"), ("policy/v1", "PodDisruptionBudget"),
                              ("v1", "Pod")):
        for item in kube.items(api_version, kind, namespace):
            if any(ref.uid == uid for ref in item.metadata.ownerReferences or []):
                found.append(f"{kind}/{item.metadata.name}")
    return found


def test_killed_mid_build_a_new_operator_adopts_the_running_job(cluster, kube: KubeClient, namespace: str,
                                                                crds: None, figures: Figures):
    victim = start_operator(cluster, namespace, name="victim")
    kube.create(service("sdxl", namespace, engine={"builderImage": HOLD}))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                  lambda o: engine_status(o).get("state") == "Building", timeout=60, what="Building")
    victim.kill()
    restarted = time.monotonic()
    survivor = start_operator(cluster, namespace, name="survivor")
    try:
        # Let the held build finish the way a real one would: the normal builder, the Job re-created.
        kube.resource(API, "DiffusionService").patch(
            name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
            body={"spec": {"engine": {"builderImage": None}}})
        [held] = jobs(kube, namespace)
        kube.delete("batch/v1", "Job", held.metadata.name, namespace)
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
        converged_s = time.monotonic() - restarted
        [job] = jobs(kube, namespace)  # exactly one build Job for the one key
        assert job.metadata.name == engine_status(obj)["jobName"]
        assert obj.to_dict()["status"]["observedGeneration"] == obj.metadata.generation
        figures.record("operator_kill", mid_build_restart_to_ready_s=round(converged_s, 2))
    finally:
        survivor.stop()


def test_killed_mid_rollout_the_new_engine_finishes_rolling_out(cluster, kube: KubeClient, namespace: str,
                                                               crds: None, figures: Figures):
    victim = start_operator(cluster, namespace, name="victim")
    kube.create(service("sdxl", namespace))
    old_key = engine_status(kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"),
                                          timeout=90, what="Ready"))["cacheKey"]
    kube.resource(API, "DiffusionService").patch(
        name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
        body={"spec": {"engine": {"resolutions": [{"width": 768, "height": 768}]}}})
    # Kill the moment the Deployment starts serving the new engine, before the status says so.
    kube.wait_for("apps/v1", "Deployment", "sdxl", namespace,
                  lambda d: d.spec.template.metadata.annotations[ENGINE_KEY] != old_key, timeout=90,
                  what="rollout started")
    victim.kill()
    restarted = time.monotonic()
    survivor = start_operator(cluster, namespace, name="survivor")
    try:
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: phase_is("Ready")(o) and engine_status(o).get("servingCacheKey")
                            == engine_status(o).get("cacheKey") != old_key, timeout=90,
                            what="Ready on the new engine")
        converged_s = time.monotonic() - restarted
        new_key = engine_status(obj)["cacheKey"]
        keys = sorted(j.metadata.labels[ENGINE_KEY] for j in jobs(kube, namespace))
        assert keys == sorted([old_key, new_key])  # one Job per key, none duplicated
        deployment = kube.wait_for("apps/v1", "Deployment", "sdxl", namespace,
                                   lambda d: d.status.updatedReplicas == d.status.readyReplicas == 1
                                   and d.status.replicas == 1, timeout=60, what="rollout complete")
        assert deployment.spec.template.metadata.annotations[ENGINE_KEY] == new_key
        status = obj.to_dict()["status"]
        assert status["observedGeneration"] == obj.metadata.generation
        assert status["readyReplicas"] == 1 and condition(obj, "Degraded") == "False"
        figures.record("operator_kill", mid_rollout_restart_to_ready_s=round(converged_s, 2))
    finally:
        survivor.stop()


def test_killed_right_after_a_scale_decision_the_count_and_history_survive(
        cluster, kube: KubeClient, namespace: str, crds: None, faulty_prometheus, figures: Figures):
    faulty_prometheus.values = signal_values(namespace, "sdxl", BUSY)
    victim = start_operator(cluster, namespace, name="victim", **FAST_AUTOSCALER)
    kube.create(autoscaled("sdxl", namespace, faulty_prometheus.url, max_replicas=4))
    kube.wait_for("apps/v1", "Deployment", "sdxl", namespace, lambda d: (d.spec.replicas or 0) > 1,
                  timeout=120, what="first scale-up")
    # A tick writes the count, then the status that records it: the kill comes once both are written
    # (a kill between the two is the restart-from-the-Deployment case, not this one).
    recorded = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                             lambda o: bool((((o.to_dict().get("status") or {}).get("autoscaling") or {})
                                             .get("history") or {}).get("lastScaleTime")),
                             timeout=30, what="the scale-up recorded in status")
    victim.kill()
    scaled_to = kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas
    before = recorded.to_dict()["status"]["autoscaling"]["history"]
    restarted = time.monotonic()
    survivor = start_operator(cluster, namespace, name="survivor", **FAST_AUTOSCALER)
    try:
        lowest = scaled_to
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lowest = min(lowest, kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas)
            time.sleep(0.2)
        assert lowest >= scaled_to, "the restarted operator lowered the replicas it had scaled up to"
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: (o.to_dict().get("status") or {}).get("desiredReplicas") == 4,
                            timeout=60, what="desiredReplicas 4")
        deployment = kube.get("apps/v1", "Deployment", "sdxl", namespace)
        assert deployment.spec.replicas == 4
        history = obj.to_dict()["status"]["autoscaling"]["history"]
        # The memory in status carried over: the restarted operator continued it rather than starting afresh.
        assert history["lastScaleTime"] >= before["lastScaleTime"]
        assert history["recommendations"] and history["recommendations"][0][0] <= before["lastScaleTime"] + 60
        assert condition(obj, "ScalingActive") == "True"
        figures.record("operator_kill", mid_scale_restart_to_consistent_s=round(time.monotonic() - restarted, 2))
    finally:
        survivor.stop()


def test_killed_before_a_deletion_the_restarted_operator_finishes_it_with_no_orphans(
        cluster, kube: KubeClient, namespace: str, crds: None, figures: Figures):
    victim = start_operator(cluster, namespace, name="victim")
    kube.create(service("sdxl", namespace))
    obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    uid = obj.metadata.uid
    assert owned_by(kube, namespace, uid), "nothing to orphan: the case would prove nothing"
    victim.kill()
    kube.delete(API, "DiffusionService", "sdxl", namespace)
    time.sleep(2)
    pending = kube.get(API, "DiffusionService", "sdxl", namespace)
    assert pending is not None and pending.metadata.deletionTimestamp, "the finalizer should hold the object"
    restarted = time.monotonic()
    survivor = start_operator(cluster, namespace, name="survivor")
    try:
        kube.wait_gone(API, "DiffusionService", "sdxl", namespace, timeout=60)
        deadline = time.monotonic() + 60
        while (left := owned_by(kube, namespace, uid)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert left == [], f"orphaned children: {left}"
        figures.record("operator_kill", deletion_restart_to_no_orphans_s=round(time.monotonic() - restarted, 2))
    finally:
        survivor.stop()

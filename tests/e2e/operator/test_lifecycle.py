"""A DiffusionService on the test bed: engine build Job on the L4 pool, Triton Deployment, status, GC."""

from __future__ import annotations

import subprocess
import time
import urllib.request

from diffusion_operator.reconcile.owners import MAX_BUILD_OWNERS
from prometheus_client.parser import text_string_to_metric_families

from testbed.kube import KubeClient, condition
from testbed.operator_process import OperatorProcess
from tests.e2e.support import API, HOLD, jobs, phase_is, service, start_operator


def test_a_service_builds_its_engine_on_the_l4_pool_then_becomes_ready(kube: KubeClient, namespace: str,
                                                                       operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    status = obj.to_dict()["status"]
    assert condition(obj, "EngineReady") == "True"
    assert condition(obj, "Available") == "True"
    assert status["engine"]["state"] == "Succeeded"
    assert status["engine"]["tensorrtVersion"] == "testbed-fake"  # from the build pod's termination message
    assert status["engine"]["servingCacheKey"] == status["engine"]["cacheKey"]
    assert status["readyReplicas"] == 1 and status["replicas"] == 1
    assert status["endpoints"]["http"] == f"http://sdxl.{namespace}.svc:8000"
    assert status["observedGeneration"] == obj.metadata.generation

    [job] = jobs(kube, namespace)
    [build_pod] = kube.items("v1", "Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job.metadata.name}")
    node = kube.core.read_node(build_pod.spec.nodeName)
    assert node.metadata.labels["cloud.google.com/gke-accelerator"] == "nvidia-l4"

    deployment = kube.get("apps/v1", "Deployment", "sdxl", namespace)
    assert deployment.spec.template.metadata.annotations["diffusion.dev/engine-key"] == status["engine"]["cacheKey"]
    assert kube.get("v1", "Service", "sdxl", namespace) is not None
    events = kube.wait_for_event(namespace, "sdxl", lambda e: "EngineBuilt" in e, what="EngineBuilt")
    assert any("BuildPending" in e or "Building" in e for e in events), events


def test_a_long_build_shows_phase_building_with_the_job_running_on_a_gpu_node(kube: KubeClient, namespace: str,
                                                                              operator: OperatorProcess):
    kube.create(service("slow", namespace, engine={"builderImage": HOLD}))
    obj = kube.wait_for(API, "DiffusionService", "slow", namespace,
                        lambda o: (o.to_dict().get("status") or {}).get("engine", {}).get("state") == "Building",
                        timeout=60, what="engine Building")
    assert obj.to_dict()["status"]["phase"] == "Building"
    assert condition(obj, "Ready") == "False"
    assert kube.get("apps/v1", "Deployment", "slow", namespace) is None


def test_two_services_with_the_same_engine_spec_share_one_build(kube: KubeClient, namespace: str,
                                                                operator: OperatorProcess):
    kube.create(service("a", namespace))
    kube.create(service("b", namespace, pipeline={"steps": 20}))  # pipeline settings are not engine inputs
    for name in ("a", "b"):
        kube.wait_for(API, "DiffusionService", name, namespace, phase_is("Ready"), timeout=90, what="Ready")
    [job] = jobs(kube, namespace)
    owners = sorted(ref.name for ref in job.metadata.ownerReferences)
    assert owners == ["a", "b"]

    kube.delete(API, "DiffusionService", "a", namespace)
    kube.wait_gone("apps/v1", "Deployment", "a", namespace)
    time.sleep(2)
    assert kube.get("batch/v1", "Job", job.metadata.name, namespace) is not None, "still used by b"
    kube.delete(API, "DiffusionService", "b", namespace)
    kube.wait_gone("batch/v1", "Job", job.metadata.name, namespace)


def engine_state_is(state: str):
    return lambda obj: ((obj.to_dict().get("status") or {}).get("engine") or {}).get("state") == state


def test_a_build_used_by_more_services_than_its_owner_slots_is_followed_and_survives_its_owners(
        cluster, kube: KubeClient, namespace: str, crds: None):
    """Owners are capped (MAX_BUILD_OWNERS); the rest follow the build, woken by the Job's events through
    the engine-key index (the resync timer, 20 s here, catches a follower whose index entry was written
    after the event that should have woken it). When the owners are
    deleted, either the garbage collector drops their references first and the followers take the
    freed slots (the Job survives), or it takes the Job and a follower re-creates it: both end with the
    build owned by followers only."""
    operator = start_operator(cluster, namespace, name="followers", DIFFUSION_RESYNC_INTERVAL_SECONDS="20")
    names = [f"s-{i:02d}" for i in range(MAX_BUILD_OWNERS + 4)]
    try:
        kube.create(service(names[0], namespace, replicas=0))  # replicas 0: three fake GPUs are not the limit
        kube.wait_for(API, "DiffusionService", names[0], namespace,
                      lambda o: bool(((o.to_dict().get("status") or {}).get("engine") or {}).get("jobName")),
                      timeout=60, what="a build Job")
        for name in names[1:]:
            kube.create(service(name, namespace, replicas=0))
        for name in names:
            kube.wait_for(API, "DiffusionService", name, namespace, engine_state_is("Succeeded"), timeout=120,
                          what="engine Succeeded")
        [job] = jobs(kube, namespace)
        owners = {ref.name for ref in job.metadata.ownerReferences}
        # Joins that lose the race for the Job's resourceVersion too often follow instead: never more.
        assert 1 <= len(owners) <= MAX_BUILD_OWNERS, owners
        followers = set(names) - owners
        for name in names:
            assert kube.get(API, "DiffusionService", name, namespace).status.engine.jobName == job.metadata.name

        for name in owners:
            kube.delete(API, "DiffusionService", name, namespace)

        def owned_by_followers(current) -> bool:  # type: ignore[no-untyped-def]
            refs = {ref.name for ref in current.metadata.ownerReferences or []}
            return bool(refs) and refs <= followers

        kube.wait_for("batch/v1", "Job", job.metadata.name, namespace, owned_by_followers, timeout=120,
                      what="owned by the followers after its owners went")
        for name in followers:
            kube.wait_for(API, "DiffusionService", name, namespace, engine_state_is("Succeeded"), timeout=90,
                          what="engine Succeeded again")
        assert "Traceback" not in operator.log()
    finally:
        operator.stop()


def test_an_engine_edit_builds_anew_while_the_old_engine_keeps_serving(kube: KubeClient, namespace: str,
                                                                       operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    old_key = obj.to_dict()["status"]["engine"]["cacheKey"]

    resource = kube.resource(API, "DiffusionService")
    resource.patch(name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
                   body={"spec": {"engine": {"resolutions": [{"width": 768, "height": 768}], "builderImage": HOLD}}})
    obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                        lambda o: o.to_dict()["status"]["engine"]["cacheKey"] != old_key, timeout=30,
                        what="new cache key")
    new_key = obj.to_dict()["status"]["engine"]["cacheKey"]
    assert len(jobs(kube, namespace)) == 2
    # The new build holds; the old engine must keep serving, and the service stays Ready.
    for _ in range(10):
        obj = kube.get(API, "DiffusionService", "sdxl", namespace)
        deployment = kube.get("apps/v1", "Deployment", "sdxl", namespace)
        assert deployment.spec.template.metadata.annotations["diffusion.dev/engine-key"] == old_key
        assert condition(obj, "Ready") == "True"
        time.sleep(0.5)
    assert obj.to_dict()["status"]["engine"]["servingCacheKey"] == old_key

    # Let the new build finish: use the normal builder and drop the held Job; the operator re-creates it.
    resource.patch(name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
                   body={"spec": {"engine": {"builderImage": None}}})
    held = next(j for j in jobs(kube, namespace) if j.metadata.labels["diffusion.dev/engine-key"] == new_key)
    kube.delete("batch/v1", "Job", held.metadata.name, namespace)
    kube.wait_for("apps/v1", "Deployment", "sdxl", namespace,
                  lambda d: d.spec.template.metadata.annotations["diffusion.dev/engine-key"] == new_key,
                  timeout=90, what="switch to the new engine")
    kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                  lambda o: phase_is("Ready")(o) and o.to_dict()["status"]["engine"]["servingCacheKey"] == new_key,
                  timeout=60, what="Ready on the new engine")


def test_deleting_a_service_garbage_collects_its_children(kube: KubeClient, namespace: str,
                                                          operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    job_name = jobs(kube, namespace)[0].metadata.name
    kube.delete(API, "DiffusionService", "sdxl", namespace)
    for api_version, kind, name in (("apps/v1", "Deployment", "sdxl"), ("v1", "Service", "sdxl"),
                                    ("batch/v1", "Job", job_name)):
        kube.wait_gone(api_version, kind, name, namespace, timeout=60)


def test_killing_the_operator_mid_build_creates_no_duplicate_job(cluster, kube: KubeClient, namespace: str,
                                                                 crds: None):
    first = start_operator(cluster, namespace, name="victim")
    kube.create(service("slow", namespace, engine={"builderImage": HOLD}))
    kube.wait_for(API, "DiffusionService", "slow", namespace,
                  lambda o: (o.to_dict().get("status") or {}).get("engine", {}).get("state") == "Building",
                  timeout=60, what="Building")
    first.kill()
    second = start_operator(cluster, namespace, name="survivor")
    try:
        time.sleep(5)  # resume handlers, child events and a status write have all run by now
        assert len(jobs(kube, namespace)) == 1
        obj = kube.get(API, "DiffusionService", "slow", namespace)
        assert obj.to_dict()["status"]["phase"] == "Building"
        assert obj.to_dict()["status"]["engine"]["jobName"] == jobs(kube, namespace)[0].metadata.name
    finally:
        second.stop()


def test_kubectl_get_shows_the_printer_columns(cluster, kube: KubeClient, namespace: str, kubectl_binary: str,
                                               operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    out = subprocess.run([kubectl_binary, "--kubeconfig", str(cluster.kubeconfig), "get", "dfs", "-n", namespace],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "PHASE", "READY", "QUEUE", "GPU", "AGE"]
    assert row.split()[:4] == ["sdxl", "Ready", "1/1", "nvidia-l4"]


def test_two_peered_operators_never_both_act(cluster, kube: KubeClient, namespace: str, crds: None):
    """kopf peering: the higher-priority replica reconciles, the other stands by until it is gone."""
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                "metadata": {"name": "diffusion-operator", "namespace": namespace}}, field_manager="e2e")
    peering = ("--peering=diffusion-operator",)
    active = start_operator(cluster, namespace, name="active", args=peering,
                            DIFFUSION_PEERING_PRIORITY="200", DIFFUSION_PEERING_LIFETIME="30")
    standby = start_operator(cluster, namespace, name="standby", args=peering,
                             DIFFUSION_PEERING_PRIORITY="100", DIFFUSION_PEERING_LIFETIME="30")
    try:
        kube.create(service("sdxl", namespace))
        kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
        assert "on_service_changed" in active.log()
        assert "on_service_changed" not in standby.log()

        active.kill()  # the standby takes over once the active one's peering record expires
        kube.resource(API, "DiffusionService").patch(
            name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
            body={"spec": {"replicas": 2}})
        kube.wait_for("apps/v1", "Deployment", "sdxl", namespace, lambda d: d.spec.replicas == 2,
                      timeout=90, what="the standby to act")
        deadline = time.monotonic() + 10  # its log line follows the apply by a moment
        while "on_service_changed" not in standby.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "on_service_changed" in standby.log()
    finally:
        standby.stop()
        active.stop()


def test_the_operator_exports_its_own_metrics(kube: KubeClient, namespace: str, operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as resp:
        families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
    reconciles = families["diffusion_operator_reconcile_duration_seconds"]
    ok = [s for s in reconciles.samples if s.name.endswith("_count") and s.labels.get("outcome") == "ok"]
    assert ok and ok[0].value >= 2
    builds = families["diffusion_operator_engine_builds"]
    assert any(s.labels == {"namespace": namespace, "result": "started"} and s.value == 1 for s in builds.samples)
    desired = families["diffusion_operator_desired_replicas"]
    assert any(s.labels == {"namespace": namespace, "service": "sdxl"} and s.value == 1 for s in desired.samples)


def test_a_serving_only_change_rolls_the_deployment_without_a_rebuild(kube: KubeClient, namespace: str,
                                                                      operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    before = kube.get("apps/v1", "Deployment", "sdxl", namespace)
    kube.resource(API, "DiffusionService").patch(
        name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
        body={"spec": {"pipeline": {"steps": 12, "scheduler": "ddim"}}})

    def env(d) -> dict:
        return {e.name: e.value for e in d.spec.template.spec.containers[0].env}

    after = kube.wait_for("apps/v1", "Deployment", "sdxl", namespace,
                          lambda d: env(d).get("SDXL_DEFAULT_STEPS") == "12", timeout=30, what="new pipeline env")
    assert env(after)["SDXL_DEFAULT_SCHEDULER"] == "ddim"
    assert after.metadata.generation > before.metadata.generation
    assert len(jobs(kube, namespace)) == 1, "pipeline settings must never rebuild engines"


def test_more_than_one_replica_gets_a_disruption_budget_and_one_replica_does_not(
        kube: KubeClient, namespace: str, operator: OperatorProcess):
    kube.create(service("sdxl", namespace, replicas=2))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                  lambda o: phase_is("Ready")(o) and o.to_dict()["status"]["readyReplicas"] == 2,
                  timeout=90, what="2 ready")
    pdb = kube.wait_for("policy/v1", "PodDisruptionBudget", "sdxl", namespace, lambda p: True, timeout=30)
    assert pdb.metadata.ownerReferences[0].name == "sdxl"
    kube.resource(API, "DiffusionService").patch(
        name="sdxl", namespace=namespace, content_type="application/merge-patch+json", body={"spec": {"replicas": 1}})
    kube.wait_gone("policy/v1", "PodDisruptionBudget", "sdxl", namespace, timeout=30)


def test_kubectl_scale_drives_the_replicas_through_the_scale_subresource(
        cluster, kube: KubeClient, namespace: str, kubectl_binary: str, operator: OperatorProcess):
    kube.create(service("sdxl", namespace))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    subprocess.run([kubectl_binary, "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "scale",
                    "dfs/sdxl", "--replicas=3"], capture_output=True, text=True, timeout=30, check=True)
    obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                        lambda o: (o.to_dict().get("status") or {}).get("replicas") == 3, timeout=60,
                        what="3 replicas in status")
    assert kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas == 3
    assert obj.to_dict()["status"]["selector"] == "app.kubernetes.io/instance=sdxl,app.kubernetes.io/name=triton"

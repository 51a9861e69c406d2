"""Faults in the engine build: the builder exits non-zero, overruns its deadline, or loses its node.

Expectations: ``EngineReady=False`` with the cause (the builder's termination message, or the
deadline), retries by the Job's own exponential back-off (``backoffLimit``; a lost node does not
count as a failure), and an engine that served before keeps serving throughout.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime

from testbed.kube import KubeClient, condition
from testbed.pools import DEFAULT_POOLS
from tests.e2e.faults.support import Figures
from tests.e2e.support import API, HOLD, jobs, phase_is, service, start_operator

FAIL = "testbed.dev/fake:build-fail"
#: render/defaults.py: RenderSettings.build_backoff_limit
BACKOFF_LIMIT = 2


def reason(obj, type_: str) -> str | None:
    return next((c["reason"] for c in (obj.to_dict().get("status") or {}).get("conditions") or []
                 if c["type"] == type_), None)


def build_pods(kube: KubeClient, namespace: str, job_name: str) -> list:
    return kube.items("v1", "Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}")


def test_a_failing_build_is_retried_with_backoff_and_the_old_engine_keeps_serving(
        cluster, kube: KubeClient, namespace: str, crds: None, figures: Figures):
    operator = start_operator(cluster, namespace)
    try:
        kube.create(service("sdxl", namespace))
        good = kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90,
                             what="Ready")
        good_key = good.to_dict()["status"]["engine"]["cacheKey"]
        kube.resource(API, "DiffusionService").patch(
            name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
            body={"spec": {"engine": {"resolutions": [{"width": 768, "height": 768}], "builderImage": FAIL}}})
        started = time.monotonic()
        # Throughout the retries the old engine serves and the service stays Ready.
        while reason(obj := kube.get(API, "DiffusionService", "sdxl", namespace), "EngineReady") != "BuildFailed":
            assert condition(obj, "Ready") == "True", obj.to_dict()["status"]["conditions"]
            assert kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.template.metadata.annotations[
                "diffusion.dev/engine-key"] == good_key
            assert time.monotonic() - started < 180, "the build never failed"
            time.sleep(0.5)
        failed_s = time.monotonic() - started
        status = obj.to_dict()["status"]
        assert "model source unreachable" in status["engine"]["message"]  # the builder's own words
        assert condition(obj, "Degraded") == "True" and reason(obj, "Degraded") == "BuildFailed"
        assert status["engine"]["servingCacheKey"] == good_key and status["phase"] == "Degraded"

        [job] = [j for j in jobs(kube, namespace) if j.metadata.labels["diffusion.dev/engine-key"] != good_key]
        created = sorted(datetime.fromisoformat(str(p.metadata.creationTimestamp).replace("Z", "+00:00"))
                         for p in build_pods(kube, namespace, job.metadata.name))
        assert len(created) == BACKOFF_LIMIT + 1, created
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
        assert gaps == sorted(gaps) and gaps[0] >= 5, f"retries without back-off: {gaps}"
        kube.wait_for_event(namespace, "sdxl", lambda e: e.startswith("Warning BuildFailed"),
                            what="Warning BuildFailed")
        figures.record("build_faults", attempts=len(created), retry_gaps_s=gaps,
                       seconds_to_build_failed=round(failed_s, 2))
    finally:
        operator.stop()


def test_a_build_over_its_deadline_is_reported_as_timed_out(cluster, kube: KubeClient, namespace: str,
                                                           crds: None, figures: Figures):
    operator = start_operator(cluster, namespace)
    try:
        kube.create(service("sdxl", namespace, engine={"builderImage": HOLD, "buildTimeout": "5s"}))
        started = time.monotonic()
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: reason(o, "EngineReady") == "BuildTimedOut", timeout=90, what="BuildTimedOut")
        assert obj.to_dict()["status"]["phase"] == "Failed"
        assert "buildTimeout" in next(c["message"] for c in obj.to_dict()["status"]["conditions"]
                                      if c["type"] == "EngineReady")
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace) is None  # nothing to serve, nothing served
        figures.record("build_faults", seconds_to_timed_out_with_5s_deadline=round(time.monotonic() - started, 2))
    finally:
        operator.stop()


def test_a_build_whose_node_disappears_moves_to_another_node_without_counting_a_failure(
        cluster, kube: KubeClient, namespace: str, crds: None, figures: Figures):
    operator = start_operator(cluster, namespace)
    try:
        kube.create(service("sdxl", namespace, engine={"builderImage": HOLD}))
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: (o.to_dict().get("status") or {}).get("engine", {}).get("state") == "Building",
                            timeout=60, what="Building")
        job_name = obj.to_dict()["status"]["engine"]["jobName"]
        [first] = build_pods(kube, namespace, job_name)
        lost = first.spec.nodeName
        kube.core.delete_node(lost)
        gone = time.monotonic()
        try:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                pods = [p for p in build_pods(kube, namespace, job_name)
                        if p.metadata.name != first.metadata.name and p.status.phase == "Running"]
                if pods:
                    break
                time.sleep(1)
            else:
                raise AssertionError("no replacement build pod ran after its node was deleted")
            moved_s = time.monotonic() - gone
            assert pods[0].spec.nodeName != lost
            assert pods[0].metadata.labels.get("batch.kubernetes.io/job-name") == job_name
            job = kube.get("batch/v1", "Job", job_name, namespace)
            assert not (job.status.failed or 0), "a lost node counted against the build's backoffLimit"
            # The operator saw the lost pod (BuildPending) and sees the replacement run: Building again,
            # once its watch has caught up with the pod (the status is not read in the same instant).
            kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                          lambda o: (o.to_dict().get("status") or {}).get("engine", {}).get("state") == "Building",
                          timeout=30, what="Building again on the replacement pod")
            figures.record("build_faults", seconds_from_node_loss_to_replacement_running=round(moved_s, 2))
        finally:
            cluster.apply_pools(DEFAULT_POOLS)  # the node comes back for the tests after this one
    finally:
        operator.stop()

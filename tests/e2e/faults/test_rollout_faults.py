"""Fault: Triton pods of a new revision crash-loop (a repository Triton cannot load, a broken image).

Expectation: the old pods keep serving (the rollout surges, never removes a ready pod first), the
service reports ``Degraded`` with the pods' reason, and after the rollback grace the operator
restores the previous revision (engine and template), so the service is whole again; the next
spec edit tries anew. The test bed's ``testbed.dev/fake:crashloop`` image stands in for a server
that exits at start: kwok gives its pods CrashLoopBackOff.
"""

from __future__ import annotations

import time

from testbed.kube import KubeClient, condition
from tests.e2e.faults.support import Figures
from tests.e2e.support import API, phase_is, service, start_operator

CRASH = "testbed.dev/fake:crashloop"
GRACE_S = 5


def reason(obj, type_: str) -> str | None:
    return next((c["reason"] for c in (obj.to_dict().get("status") or {}).get("conditions") or []
                 if c["type"] == type_), None)


def template_key(kube: KubeClient, namespace: str, name: str) -> str:
    deployment = kube.get("apps/v1", "Deployment", name, namespace)
    return deployment.spec.template.metadata.annotations["diffusion.dev/engine-key"]


def test_a_new_engine_whose_pods_crash_loop_is_rolled_back_and_the_service_stays_up(
        cluster, kube: KubeClient, namespace: str, crds: None, figures: Figures):
    operator = start_operator(cluster, namespace, DIFFUSION_ROLLBACK_AFTER_SECONDS=str(GRACE_S))
    try:
        kube.create(service("sdxl", namespace))
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
        good_key = obj.to_dict()["status"]["engine"]["cacheKey"]

        # A new engine and a server that cannot start with it, in one edit.
        resource = kube.resource(API, "DiffusionService")
        resource.patch(name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
                       body={"spec": {"engine": {"resolutions": [{"width": 768, "height": 768}]},
                                      "serving": {"image": CRASH}}})
        kube.wait_for("apps/v1", "Deployment", "sdxl", namespace,
                      lambda d: d.spec.template.spec.containers[0].image == CRASH, timeout=90,
                      what="rollout of the crashing revision")
        started = time.monotonic()
        # While it crash-loops, the old pod serves: Ready stays True, Degraded names the reason.
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: condition(o, "Degraded") == "True", timeout=60, what="Degraded")
        assert condition(obj, "Ready") == "True"

        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: reason(o, "Degraded") == "RolledBack", timeout=60, what="RolledBack")
        rolled_back_s = time.monotonic() - started
        status = obj.to_dict()["status"]
        bad_key = status["engine"]["cacheKey"]
        assert bad_key != good_key
        assert status["rollback"]["cacheKey"] == good_key
        assert status["rollback"]["generation"] == obj.metadata.generation
        assert "CrashLoopBackOff" in status["rollback"]["message"]
        assert status["phase"] == "Degraded"
        kube.wait_for("apps/v1", "Deployment", "sdxl", namespace,
                      lambda d: d.spec.template.spec.containers[0].image != CRASH
                      and (d.status.availableReplicas or 0) == 1 and (d.status.updatedReplicas or 0) == 1,
                      timeout=60, what="previous revision restored")
        assert template_key(kube, namespace, "sdxl") == good_key
        obj = kube.get(API, "DiffusionService", "sdxl", namespace)
        assert condition(obj, "Ready") == "True"
        assert obj.to_dict()["status"]["engine"]["servingCacheKey"] == good_key
        kube.wait_for_event(namespace, "sdxl", lambda e: e.startswith("Warning RolledBack"), what="Warning RolledBack")

        # The rollback holds: resyncs and child events do not re-apply the broken template.
        time.sleep(4)
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.template.spec.containers[0].image != CRASH

        # A spec edit (the image fixed) tries again, and the new engine now rolls out.
        resource.patch(name="sdxl", namespace=namespace, content_type="application/merge-patch+json",
                       body={"spec": {"serving": {"image": None}}})
        kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                      lambda o: phase_is("Ready")(o) and o.to_dict()["status"]["engine"]["servingCacheKey"] == bad_key
                      and condition(o, "Degraded") == "False", timeout=90, what="Ready on the new engine")
        assert template_key(kube, namespace, "sdxl") == bad_key
        assert operator.process.alive()
        figures.record("rollback", seconds_from_crash_loop_to_rollback=round(rolled_back_s, 2),
                       grace_seconds=GRACE_S)
    finally:
        operator.stop()

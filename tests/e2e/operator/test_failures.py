"""What only the operator can see becomes a condition with a precise reason and an Event, not a crash."""

from __future__ import annotations

from testbed.kube import KubeClient, condition
from testbed.operator_process import OperatorProcess
from tests.e2e.support import API, service


def reason(obj, type_: str) -> str | None:
    for c in (obj.to_dict().get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c["reason"]
    return None


def test_a_failing_build_is_reported_with_the_builders_message(kube: KubeClient, namespace: str,
                                                               operator: OperatorProcess):
    kube.create(service("broken", namespace, engine={"builderImage": "testbed.dev/fake:build-fail"}))
    obj = kube.wait_for(API, "DiffusionService", "broken", namespace,
                        lambda o: reason(o, "EngineReady") == "BuildFailed", timeout=120, what="BuildFailed")
    status = obj.to_dict()["status"]
    assert status["phase"] == "Failed"
    assert condition(obj, "Ready") == "False"
    assert "model source unreachable" in status["engine"]["message"]
    kube.wait_for_event(namespace, "broken", lambda e: e.startswith("Warning BuildFailed") and "unreachable" in e,
                        what="Warning BuildFailed")
    assert operator.process.alive()


def test_an_image_that_cannot_be_pulled_is_named_in_the_status(kube: KubeClient, namespace: str,
                                                               operator: OperatorProcess):
    kube.create(service("pull", namespace, serving={"image": "testbed.dev/fake:image-pull-fail"}))
    obj = kube.wait_for(API, "DiffusionService", "pull", namespace,
                        lambda o: reason(o, "Available") == "ImagePullFailed", timeout=90, what="ImagePullFailed")
    assert obj.to_dict()["status"]["phase"] == "Deploying"
    ready = next(c for c in obj.to_dict()["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "ImagePullBackOff" in ready["message"]


def test_a_crash_looping_server_is_named_in_the_status(kube: KubeClient, namespace: str,
                                                       operator: OperatorProcess):
    kube.create(service("crash", namespace, serving={"image": "testbed.dev/fake:crashloop"}))
    obj = kube.wait_for(API, "DiffusionService", "crash", namespace,
                        lambda o: reason(o, "Available") == "CrashLoopBackOff", timeout=90,
                        what="CrashLoopBackOff")
    ready = next(c for c in obj.to_dict()["status"]["conditions"] if c["type"] == "Ready")
    assert "CrashLoopBackOff" in ready["message"]

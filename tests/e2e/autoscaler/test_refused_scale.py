"""A scale write the API server refuses is on the DiffusionService, and clears once the writes land.

The refusal is a platform team's admission policy (a ValidatingAdmissionPolicy, GA since 1.30) that
caps the namespace's Deployments at one replica: the API server answers the autoscaler's apply of
``spec.replicas`` with 403 Forbidden, as it would a quota webhook or a missing RBAC verb. The
autoscaler wants two replicas without any load: Prometheus is unreachable and the spec's fallback is
``Fixed: 2`` after one failed read, so the test needs no Triton, no Prometheus and no real node.
"""

from __future__ import annotations

import pytest

from testbed.cluster import Cluster
from testbed.kube import KubeClient, WaitTimeoutError
from tests.e2e.support import API, phase_is, service, start_operator

POLICY_API = "admissionregistration.k8s.io/v1"
TICK_S = 1.0
UNREACHABLE_PROMETHEUS = "http://127.0.0.1:9"  # the discard port: the connection is refused at once


def one_replica_policy(name: str, namespace: str) -> tuple[dict, dict]:
    policy = {"apiVersion": POLICY_API, "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name},
              "spec": {"failurePolicy": "Fail",
                       "matchConstraints": {"resourceRules": [{
                           "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"],
                           "resources": ["deployments"]}]},
                       "validations": [{"expression": "object.spec.replicas <= 1", "reason": "Forbidden",
                                        "message": "the namespace's GPU budget allows one replica"}]}}
    binding = {"apiVersion": POLICY_API, "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
               "spec": {"policyName": name, "validationActions": ["Deny"],
                        "matchResources": {"namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": namespace}}}}}
    return policy, binding


def able_to_scale(obj) -> tuple[str, str, str] | None:  # type: ignore[no-untyped-def]
    for c in (obj.to_dict().get("status") or {}).get("conditions") or []:
        if c["type"] == "AbleToScale":
            return c["status"], c["reason"], c.get("message") or ""
    return None


@pytest.mark.timeout(300)
def test_a_refused_scale_write_is_a_condition_and_a_warning_then_clears(
        cluster: Cluster, kube: KubeClient, namespace: str, crds: None) -> None:
    name = f"one-replica-{namespace}"
    policy, binding = one_replica_policy(name, namespace)
    kube.apply(policy, field_manager="e2e")
    kube.apply(binding, field_manager="e2e")
    operator = start_operator(cluster, namespace, name="refused-scale",
                              DIFFUSION_AUTOSCALE_INTERVAL_SECONDS=str(TICK_S))
    try:
        kube.create(service("sdxl", namespace, autoscaling={
            "enabled": True, "minReplicas": 1, "maxReplicas": 3, "queueLatencyTarget": "1s",
            "prometheus": {"url": UNREACHABLE_PROMETHEUS},
            "fallback": {"mode": "Fixed", "replicas": 2, "failureThreshold": 1}}))
        kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=120, what="Ready")

        try:
            refused = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                                    lambda o: (able_to_scale(o) or ("",))[0] == "False", timeout=60,
                                    what="AbleToScale=False")
        except WaitTimeoutError as error:
            raise AssertionError(operator.log()[-4000:]) from error
        _, reason, message = able_to_scale(refused)  # type: ignore[misc]
        assert reason == "FailedUpdateScale"
        assert "Deployment sdxl to 2 replicas" in message and "GPU budget allows one replica" in message
        kube.wait_for_event(namespace, "sdxl", lambda e: e.startswith("Warning FailedRescale")
                            and "GPU budget" in e, what="Warning FailedRescale")
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas == 1

        kube.delete(POLICY_API, "ValidatingAdmissionPolicyBinding", name)
        kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                      lambda o: (able_to_scale(o) or ("", ""))[:2] == ("True", "ReadyForNewScale"), timeout=60,
                      what="AbleToScale=True")
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas == 2
        kube.wait_for_event(namespace, "sdxl", lambda e: e.startswith("Normal ScaledUp"), what="ScaledUp")
        assert operator.process.alive()
    finally:
        operator.stop()
        kube.delete(POLICY_API, "ValidatingAdmissionPolicyBinding", name)
        kube.delete(POLICY_API, "ValidatingAdmissionPolicy", name)

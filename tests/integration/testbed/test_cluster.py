"""The test bed behaves like a GKE cluster with an L4 pool: real scheduling, controllers, CEL, helm."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from testbed.kube import KubeClient, condition
from testbed.pki import REAL_NODE_NAME

L4_SELECTOR = {"cloud.google.com/gke-accelerator": "nvidia-l4"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_pod(name: str, namespace: str, tolerate: bool) -> dict:
    spec: dict = {
        "nodeSelector": L4_SELECTOR,
        "containers": [
            {"name": "main", "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
             "resources": {"limits": {"nvidia.com/gpu": "1"}}}
        ],
    }
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_gpu_pod_with_toleration_runs_on_an_l4_node(kube: KubeClient, namespace: str):
    kube.create(gpu_pod("gpu", namespace, tolerate=True))
    pod = kube.wait_for("v1", "Pod", "gpu", namespace, lambda p: p.status.phase == "Running",
                        what="Running")
    node = kube.core.read_node(pod.spec.nodeName)
    assert node.metadata.labels["cloud.google.com/gke-nodepool"] == "l4-pool"
    assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-L4"


def test_gpu_pod_without_toleration_stays_pending_with_failed_scheduling(kube: KubeClient, namespace: str):
    kube.create(gpu_pod("untolerated", namespace, tolerate=False))
    kube.wait_for(
        "v1", "Pod", "untolerated", namespace,
        lambda p: condition(p, "PodScheduled") == "False",
        what="PodScheduled=False",
    )
    pod = kube.get("v1", "Pod", "untolerated", namespace)
    assert pod.status.phase == "Pending"
    assert not pod.spec.get("nodeName")
    events = kube.events_for(namespace, "untolerated")
    assert any("FailedScheduling" in e and "untolerated taint" in e for e in events), events


def test_job_pod_is_scheduled_and_the_job_completes(kube: KubeClient, namespace: str):
    kube.create({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "build", "namespace": namespace},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "nodeSelector": L4_SELECTOR, "tolerations": [GPU_TOLERATION],
            "containers": [{"name": "b", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        }}},
    })
    kube.wait_for("batch/v1", "Job", "build", namespace, lambda j: condition(j, "Complete") == "True",
                  what="Complete", timeout=90)


def test_deployment_becomes_available_and_deleting_it_collects_its_children(kube: KubeClient, namespace: str):
    labels = {"app": "web"}
    kube.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "w", "image": "nginx"}]},
        }},
    })
    kube.wait_for("apps/v1", "Deployment", "web", namespace,
                  lambda d: condition(d, "Available") == "True" and d.status.readyReplicas == 2,
                  what="Available with 2 ready", timeout=90)
    replicasets = kube.items("apps/v1", "ReplicaSet", namespace)
    assert len(replicasets) == 1
    assert replicasets[0].metadata.ownerReferences[0].name == "web"

    kube.delete("apps/v1", "Deployment", "web", namespace, propagation="Background")
    kube.wait_gone("apps/v1", "ReplicaSet", replicasets[0].metadata.name, namespace, timeout=60)
    def no_pods() -> bool:
        return not kube.items("v1", "Pod", namespace, label_selector="app=web")
    deadline_ok = _eventually(no_pods, 60)
    assert deadline_ok, "pods of the deleted Deployment were not garbage-collected"


def _eventually(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.testbed.dev"},
    "spec": {
        "group": "testbed.dev", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object",
                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.min <= self.max",
                                               "message": "min must not exceed max"}],
            }}}},
        }],
    },
}


def test_crd_with_a_cel_rule_rejects_a_violating_object(kube: KubeClient, namespace: str):
    kube.apply(WIDGET_CRD, field_manager="test")
    kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.testbed.dev", None,
                  lambda c: condition(c, "Established") == "True", what="Established")
    kube.dynamic.resources.invalidate_cache()

    def widget(name: str, lo: int, hi: int) -> dict:
        return {"apiVersion": "testbed.dev/v1", "kind": "Widget",
                "metadata": {"name": name, "namespace": namespace}, "spec": {"min": lo, "max": hi}}

    kube.create(widget("ok", 1, 2))
    with pytest.raises(UnprocessibleEntityError) as err:
        kube.create(widget("bad", 3, 2))
    assert "min must not exceed max" in str(err.value.body)
    assert "spec" in str(err.value.body)


def test_rbac_denies_a_service_account_without_permissions(kube: KubeClient, namespace: str):
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})

    token = kube.core.create_namespaced_service_account_token(
        "nobody", namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    ).status.token
    config = client.Configuration()
    config.host = kube.api_client.configuration.host
    config.ssl_ca_cert = kube.api_client.configuration.ssl_ca_cert
    config.api_key = {"authorization": f"Bearer {token}"}
    as_nobody = client.CoreV1Api(client.ApiClient(config))
    with pytest.raises(ApiException) as err:
        as_nobody.list_namespaced_pod(namespace)
    assert err.value.status == 403


def test_helm_installs_and_uninstalls_a_chart(cluster, kube: KubeClient, namespace: str, helm_binary: str,
                                              tmp_path: Path):
    chart = Path(__file__).parent / "charts" / "minimal"
    env = {"KUBECONFIG": str(cluster.kubeconfig), "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "config"), "HELM_DATA_HOME": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}
    def helm(*args: str) -> str:
        done = subprocess.run([helm_binary, *args, "--namespace", namespace], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    helm("install", "demo", str(chart), "--set", "message=from-test", "--wait", "--timeout", "60s")
    cm = kube.core.read_namespaced_config_map("demo-config", namespace)
    assert cm.data["message"] == "from-test"
    assert "demo" in helm("list", "--short")

    helm("uninstall", "demo", "--wait")
    assert kube.get("v1", "ConfigMap", "demo-config", namespace) is None
    assert "demo" not in helm("list", "--short")


def test_kubectl_sees_the_node_pools(cluster, kubectl_binary: str):
    done = subprocess.run(
        [kubectl_binary, "--kubeconfig", str(cluster.kubeconfig), "get", "nodes",
         "-l", "cloud.google.com/gke-accelerator=nvidia-l4", "-o", "name"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = ["node/l4-pool-0", "node/l4-pool-1", "node/l4-pool-2"]
    if cluster.state.real_node:  # the real node is a node of the L4 pool too (testbed/realnode/kubelet.py)
        expected.append(f"node/{REAL_NODE_NAME}")
    assert sorted(done.stdout.split()) == sorted(expected)


def test_a_claim_is_provisioned_and_a_pod_mounting_it_runs(kube: KubeClient, namespace: str):
    kube.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                 "metadata": {"name": "cache", "namespace": namespace},
                 "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}}})
    kube.wait_for("v1", "PersistentVolumeClaim", "cache", namespace, lambda c: c.status.phase == "Bound",
                  what="Bound", timeout=60)
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user", "namespace": namespace},
                 "spec": {"containers": [{"name": "c", "image": "busybox",
                                          "volumeMounts": [{"name": "v", "mountPath": "/cache"}]}],
                          "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "cache"}}]}})
    kube.wait_for("v1", "Pod", "user", namespace, lambda p: p.status.phase == "Running", what="Running")


@pytest.mark.parametrize(("image", "reason"), [
    ("testbed.dev/fake:image-pull-fail", "ImagePullBackOff"),
    ("testbed.dev/fake:crashloop", "CrashLoopBackOff"),
])
def test_fake_broken_images_leave_pods_unready_with_the_kubelet_reason(kube: KubeClient, namespace: str,
                                                                      image: str, reason: str):
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "broken", "namespace": namespace},
                 "spec": {"containers": [{"name": "c", "image": image}]}})
    pod = kube.wait_for("v1", "Pod", "broken", namespace,
                        lambda p: bool(p.status.containerStatuses), what="container status")
    assert pod.status.containerStatuses[0].state.waiting.reason == reason
    assert condition(pod, "Ready") == "False"


def test_a_fake_failing_build_image_fails_its_job_with_a_json_termination_message(kube: KubeClient,
                                                                                  namespace: str):
    kube.create({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "build", "namespace": namespace},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "b", "image": "testbed.dev/fake:build-fail"}],
        }}},
    })
    kube.wait_for("batch/v1", "Job", "build", namespace, lambda j: condition(j, "Failed") == "True",
                  what="Failed", timeout=60)
    pods = kube.items("v1", "Pod", namespace, label_selector="batch.kubernetes.io/job-name=build")
    message = pods[0].status.containerStatuses[0].state.terminated.message
    assert '"status": "failed"' in message

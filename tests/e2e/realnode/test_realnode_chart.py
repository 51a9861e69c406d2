"""The chart as a platform team installs it, on the real node: the operator runs as a pod from its
own image under the chart's namespaced RBAC, ``helm test`` runs its check there, and an operator pod
killed in the middle of a build loses nothing.

The release is installed as a user would (one ``helm install`` with values, no post-renderer): the
operator logs in by ``KUBERNETES_SERVICE_HOST`` although the test bed has no cluster DNS, and the
test pod finds the metrics Service by its service-link variables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from diffusion_operator.render.names import engine_job_name

from testbed.cluster import Cluster
from testbed.demo.helm import Helm
from testbed.demo.manifests import CHART, chart_values, values_yaml
from testbed.kube import KubeClient, WaitTimeoutError, condition
from testbed.realnode import RealNode
from testbed.realnode.product import API, IMAGES, tiny_service

RELEASE = "rn-chart"
SERVICE = "tiny-chart"
#: No service of this module autoscales: the operator never asks Prometheus anything here.
UNUSED_PROMETHEUS = "http://prometheus.invalid:9090"
#: A real build (export + parity + publish) plus Triton's start, on 2 shared cores.
READY_TIMEOUT = 420


@dataclass(frozen=True)
class Release:
    helm: Helm
    namespace: str  # the operator's
    watched: str  # the services'

    @property
    def operator_selector(self) -> str:
        return f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"


@pytest.fixture(scope="module")
def release(cluster: Cluster, kube: KubeClient, real_node: RealNode, crds: None,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    watched, namespace = f"rn-chart-svc-{suffix}", f"rn-chart-{suffix}"
    # The release's Role lands in the watched namespace: it must exist first (as in the README).
    kube.create_namespace(watched, {"pod-security.kubernetes.io/enforce": "restricted",
                                    "pod-security.kubernetes.io/enforce-version": "latest"})
    home = tmp_path_factory.mktemp("helm")
    values = chart_values(UNUSED_PROMETHEUS, watched)
    values["metrics"] = {"serviceMonitor": {"enabled": False}}  # no Prometheus Operator CRDs needed here
    values_file = home / "values.yaml"
    values_file.write_text(values_yaml(values))
    helm = Helm(cluster.kubeconfig, home)
    try:
        helm.install(RELEASE, CHART, namespace, values_file, wait_s=240)
    except Exception:
        print("\n" + kube.dump_pods(namespace))
        raise
    yield Release(helm, namespace, watched)
    for ns in (watched, namespace):
        print("\n" + kube.dump_pods(ns, log_lines=15))
    kube.delete(API, "DiffusionService", SERVICE, watched)
    helm.uninstall(RELEASE, namespace)
    for ns in (watched, namespace):
        kube.core.delete_namespace(ns)


def operator_pods(kube: KubeClient, release: Release) -> list[Any]:
    pods = kube.core.list_namespaced_pod(release.namespace, label_selector=release.operator_selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_the_operator_runs_as_a_pod_from_its_image_and_logs_in_without_cluster_dns(
        kube: KubeClient, release: Release, real_node: RealNode):
    [pod] = operator_pods(kube, release)
    assert pod.spec.node_name == real_node.name
    assert pod.spec.containers[0].image == IMAGES["operator"]
    assert pod.spec.service_account_name == f"{RELEASE}-diffusion-operator"
    assert not pod.spec.host_aliases  # nothing resolves kubernetes.default.svc for it
    assert ready(pod) and pod.status.container_statuses[0].restart_count == 0
    log = kube.core.read_namespaced_pod_log(pod.metadata.name, release.namespace)
    # Namespaced, kopf's scanner is off: no minute of retried cluster-wide lists at start.
    assert "customresourcedefinitions" not in log, log[-2000:]


def test_helm_test_runs_its_check_on_the_real_node_against_the_metrics_service(
        kube: KubeClient, release: Release, real_node: RealNode):
    out = release.helm("test", RELEASE, "--namespace", release.namespace, "--logs", "--timeout", "120s",
                       timeout=180)
    assert "Phase:          Succeeded" in out, out
    # kwok's nodes "run" test pods without a container: only a real one prints this line.
    assert "lines of the operator's metrics" in out, out
    check = kube.core.read_namespaced_pod(f"{RELEASE}-diffusion-operator-test-metrics", release.namespace)
    assert check.spec.node_name == real_node.name
    assert check.spec.containers[0].image == IMAGES["operator"]


def test_an_operator_pod_killed_mid_build_resumes_the_same_job_and_the_service_becomes_ready(
        kube: KubeClient, release: Release):
    kube.create(tiny_service(SERVICE, release.watched))
    [job] = _wait_for_running_build(kube, release.watched)
    [operator] = operator_pods(kube, release)
    kube.core.delete_namespaced_pod(operator.metadata.name, release.namespace, grace_period_seconds=0)

    replacement = _wait_for_replacement(kube, release, operator.metadata.name)
    try:
        service = kube.wait_for(API, "DiffusionService", SERVICE, release.watched,
                                lambda o: (o.to_dict().get("status") or {}).get("phase") == "Ready",
                                timeout=READY_TIMEOUT, what="Ready")
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(release.watched)}") from None

    [finished] = kube.items("batch/v1", "Job", release.watched)
    assert finished.metadata.uid == job.metadata.uid  # the running build was joined, not redone
    assert finished.status.succeeded == 1 and not finished.status.failed
    assert finished.metadata.name == engine_job_name(service.to_dict()["status"]["engine"]["cacheKey"])
    assert condition(service, "EngineReady") == "True"
    assert replacement.status.container_statuses[0].restart_count == 0


def _wait_for_running_build(kube: KubeClient, namespace: str, timeout: float = 120) -> list[Any]:
    """The build Job once its pod runs (and before it finishes): the moment to kill the operator."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = kube.items("batch/v1", "Job", namespace)
        if jobs and (jobs[0].status.active or 0) >= 1:
            pods = kube.core.list_namespaced_pod(
                namespace, label_selector=f"batch.kubernetes.io/job-name={jobs[0].metadata.name}").items
            if any(p.status.phase == "Running" for p in pods):
                assert not jobs[0].status.succeeded, "the build finished before the operator could be killed"
                return jobs
        time.sleep(0.5)
    raise WaitTimeoutError(f"no running build in {namespace} after {timeout:.0f}s\n{kube.dump_pods(namespace)}")


def _wait_for_replacement(kube: KubeClient, release: Release, killed: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [p for p in operator_pods(kube, release) if p.metadata.name != killed and ready(p)]
        if fresh:
            return fresh[0]
        time.sleep(0.5)
    raise WaitTimeoutError(f"no new operator pod Ready after {timeout:.0f}s\n{kube.dump_pods(release.namespace)}")


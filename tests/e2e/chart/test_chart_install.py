"""The Helm chart on the test bed: install, the operator working under the chart's own RBAC, helm test,
upgrade and uninstall, and proof that its least privilege is real."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition, service_account_kubeconfig
from testbed.operator_process import OperatorProcess
from tests.e2e.support import API, phase_is, service

CHART = Path(__file__).resolve().parents[3] / "charts" / "diffusion-operator"
RELEASE, RELEASE_NS = "diffusion", "diffusion-system"


class Helm:
    def __init__(self, binary: str, cluster: Cluster, home: Path) -> None:
        self.binary = binary
        self.env = {"KUBECONFIG": str(cluster.kubeconfig), "HELM_CACHE_HOME": str(home / "cache"),
                    "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data"),
                    "PATH": "/usr/bin:/bin"}

    def __call__(self, *args: str) -> str:
        done = subprocess.run([self.binary, *args, "--namespace", RELEASE_NS], env=self.env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture
def helm(helm_binary: str, cluster: Cluster, kube: KubeClient, tmp_path: Path) -> Iterator[Helm]:
    runner = Helm(helm_binary, cluster, tmp_path)
    runner("install", RELEASE, str(CHART), "--create-namespace", "--wait", "--timeout", "120s",
           "--set", "defaults.buildBackend=onnxruntime")
    yield runner
    subprocess.run([helm_binary, "uninstall", RELEASE, "--namespace", RELEASE_NS, "--wait"], env=runner.env,
                   capture_output=True, timeout=120, check=False)


def operator_as_chart_identity(cluster: Cluster, kube: KubeClient, tmp_path: Path) -> OperatorProcess:
    """Run the operator locally with the chart's ServiceAccount token and the chart's ConfigMap as env."""
    kubeconfig = service_account_kubeconfig(kube, RELEASE_NS, f"{RELEASE}-diffusion-operator",
                                            tmp_path / "operator.kubeconfig")
    config = kube.core.read_namespaced_config_map(f"{RELEASE}-diffusion-operator-config", RELEASE_NS).data
    process = OperatorProcess(tmp_path, kubeconfig, name="chart-operator", env=dict(config))
    process.start()
    return process


def test_the_chart_installs_and_its_operator_reconciles_under_the_charts_rbac(
        cluster: Cluster, kube: KubeClient, namespace: str, helm: Helm, tmp_path: Path):
    deployment = kube.wait_for("apps/v1", "Deployment", f"{RELEASE}-diffusion-operator", RELEASE_NS,
                               lambda d: condition(d, "Available") == "True", what="Available")
    assert deployment.spec.template.spec.serviceAccountName == f"{RELEASE}-diffusion-operator"

    operator = operator_as_chart_identity(cluster, kube, tmp_path)
    try:
        kube.create(service("sdxl", namespace))
        kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=120, what="Ready")
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace) is not None
        # (Other tests' namespaces may be terminating while this cluster-wide operator watches them; only
        # an RBAC denial of the chart's identity matters here.)
        assert 'forbidden: User "system:serviceaccount' not in operator.log()
    finally:
        operator.stop()

    helm("test", RELEASE, "--timeout", "60s")
    out = helm("upgrade", RELEASE, str(CHART), "--reuse-values", "--set", "replicaCount=2", "--wait",
               "--timeout", "120s")
    assert "has been upgraded" in out
    upgraded = kube.get("apps/v1", "Deployment", f"{RELEASE}-diffusion-operator", RELEASE_NS)
    assert upgraded.spec.replicas == 2
    assert kube.get("policy/v1", "PodDisruptionBudget", f"{RELEASE}-diffusion-operator", RELEASE_NS) is not None

    helm("uninstall", RELEASE, "--wait")
    for kind, api, name in (("Deployment", "apps/v1", f"{RELEASE}-diffusion-operator"),
                            ("ClusterRole", "rbac.authorization.k8s.io/v1", f"{RELEASE}-diffusion-operator")):
        kube.wait_gone(api, kind, name, RELEASE_NS if kind == "Deployment" else None, timeout=60)
    # Helm never deletes crds/: the users' DiffusionServices survive an uninstall.
    assert kube.get(API, "DiffusionService", "sdxl", namespace) is not None


def test_a_missing_rbac_verb_really_stops_the_operator(cluster: Cluster, kube: KubeClient, namespace: str,
                                                       helm: Helm, tmp_path: Path):
    role_name = f"{RELEASE}-diffusion-operator"
    role = kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", role_name, None).to_dict()
    without = [r for r in role["rules"] if "deployments" not in r["resources"]]
    kube.resource("rbac.authorization.k8s.io/v1", "ClusterRole").patch(
        name=role_name, body={"rules": without}, content_type="application/merge-patch+json")

    operator = operator_as_chart_identity(cluster, kube, tmp_path)
    try:
        kube.create(service("sdxl", namespace))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                "ReconcileError" in e and "403" in e for e in kube.events_for(namespace, "sdxl")):
            time.sleep(0.5)
        events = kube.events_for(namespace, "sdxl")
        assert any("ReconcileError" in e and "deployments" in e and "403" in e for e in events), events
        assert kube.get("apps/v1", "Deployment", "sdxl", namespace) is None
        assert condition(kube.get(API, "DiffusionService", "sdxl", namespace), "Ready") != "True"
        assert operator.process.alive(), "a denied write is a condition and an Event, not a crash"

        # Give the verb back (as `helm upgrade` would): the operator recovers on its own.
        kube.resource("rbac.authorization.k8s.io/v1", "ClusterRole").patch(
            name=role_name, body={"rules": role["rules"]}, content_type="application/merge-patch+json")
        kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=120,
                      what="Ready after the verb is restored")
    finally:
        operator.stop()

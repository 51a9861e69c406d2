"""The chart lints and renders for every install scenario, and its schema rejects typos."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from diffusion_operator.config import OperatorConfig

CHART = Path(__file__).resolve().parents[3] / "charts" / "diffusion-operator"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSION = "1.35.4"


def helm(helm_binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary, *args], capture_output=True, text=True, timeout=60, check=check)


def render(helm_binary: str, *args: str) -> list[dict]:
    out = helm(helm_binary, "template", "do", str(CHART), "--namespace", "diffusion-system",
               "--kube-version", KUBE_VERSION, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("values", SCENARIOS, ids=lambda p: p.name)
def test_every_scenario_lints_and_renders(helm_binary: str, values: Path):
    lint = helm(helm_binary, "lint", str(CHART), "-f", str(values), "--kube-version", KUBE_VERSION, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert render(helm_binary, "-f", str(values))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping with a key twice (safe_load keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


@pytest.mark.parametrize("values", SCENARIOS, ids=lambda p: p.name)
def test_no_rendered_object_repeats_a_key_helm_tests_included(helm_binary: str, values: Path):
    out = helm(helm_binary, "template", "do", str(CHART), "--namespace", "diffusion-system",
               "--kube-version", KUBE_VERSION, "-f", str(values)).stdout
    docs = [doc for doc in yaml.load_all(out, Loader=_UniqueKeyLoader) if doc]
    (test_pod,) = [d for d in docs if (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    assert test_pod["metadata"]["labels"]["app.kubernetes.io/component"] == "test"


def test_a_values_typo_is_rejected_by_the_schema(helm_binary: str):
    done = helm(helm_binary, "template", "do", str(CHART), "--kube-version", KUBE_VERSION,
                "--set", "replicaCont=2", check=False)
    assert done.returncode != 0
    assert "replicaCont" in done.stderr and "additional properties" in done.stderr


def test_a_wrong_type_is_rejected_by_the_schema(helm_binary: str):
    done = helm(helm_binary, "template", "do", str(CHART), "--kube-version", KUBE_VERSION,
                "--set", "defaults.buildBackend=cuda", check=False)
    assert done.returncode != 0 and "buildBackend" in done.stderr


def test_namespaced_mode_grants_nothing_cluster_wide(helm_binary: str):
    docs = render(helm_binary, "-f", str(CHART / "ci" / "namespaced-values.yaml"))
    kinds = [d["kind"] for d in docs]
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    assert sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "Role") == ["team-a", "team-b"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args


def test_ha_mode_peers_two_replicas_and_protects_them_with_a_pdb(helm_binary: str):
    docs = render(helm_binary, "-f", str(CHART / "ci" / "ha-values.yaml"))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert any(a.startswith("--peering=") for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    assert any(d["kind"] == "PodDisruptionBudget" for d in docs)
    rules = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
    assert any("kopfpeerings" in r["resources"] for r in rules)


def test_the_operator_pod_is_locked_down(helm_binary: str):
    deployment = next(d for d in render(helm_binary) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]


def test_the_rbac_never_grants_secrets_or_wildcards(helm_binary: str):
    rules = next(d for d in render(helm_binary) if d["kind"] == "ClusterRole")["rules"]
    for rule in rules:
        assert "secrets" not in rule["resources"]
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]


def test_gpu_node_labels_and_tolerations_reach_the_operator_config(helm_binary: str):
    docs = render(helm_binary, "--set-json", 'gpuNodeLabels={"nvidia-l4": {"nvidia.com/gpu.product": "NVIDIA-L4"}}',
                  "--set-json", 'gpuTolerations=[{"key": "gpu", "operator": "Exists"}]')
    data = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config"))["data"]
    config = OperatorConfig.from_env(data)
    assert config.gpu_node_labels == {"nvidia-l4": {"nvidia.com/gpu.product": "NVIDIA-L4"}}
    assert config.gpu_tolerations == [{"key": "gpu", "operator": "Exists"}]


def _test_pod(docs: list[dict]) -> dict:
    (pod,) = [d for d in docs if (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    return pod


def test_helm_tests_pod_runs_the_operator_image_on_the_operators_nodes_by_default(helm_binary: str):
    docs = render(helm_binary, "--set", "image.tag=9.9.9", "--set", "nodeSelector.pool=ops",
                  "--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Exists")
    pod = _test_pod(docs)["spec"]
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/diffusion-operator/operator:9.9.9"  # nothing else to pull or mirror
    assert pod["nodeSelector"] == {"pool": "ops"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    # The Service is found by its service-link variable, so the check needs no cluster DNS.
    assert "DO_DIFFUSION_OPERATOR_METRICS_SERVICE_HOST" in container["args"][0]


def test_helm_tests_image_can_be_named(helm_binary: str):
    pod = _test_pod(render(helm_binary, "--set", "test.image.repository=mirror.local/python-check",
                           "--set-string", "test.image.tag=1"))["spec"]
    assert pod["containers"][0]["image"] == "mirror.local/python-check:1"

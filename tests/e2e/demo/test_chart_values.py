"""The chart values the demo installs give the operator pod exactly the real-node settings of
testbed/realnode/product.py, and put the pod itself on the real node (helm template; no cluster)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from testbed.demo.manifests import CHART, chart_values, values_yaml
from testbed.paths import versions
from testbed.realnode.kubelet import REAL_NODE_LABEL, tolerations
from testbed.realnode.product import IMAGES, operator_env

PROMETHEUS = "http://10.250.0.1:9090"


def rendered(helm_binary: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    values = tmp_path / "values.yaml"
    values.write_text(values_yaml(chart_values(PROMETHEUS, "demo")))
    done = subprocess.run([helm_binary, "template", "demo", str(CHART), "--namespace", "diffusion-system",
                           "--values", str(values), "--kube-version", versions()["KUBERNETES_VERSION"]],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"HELM_CACHE_HOME": str(tmp_path), "HELM_CONFIG_HOME": str(tmp_path),
                               "HELM_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_the_operator_pod_gets_product_settings_and_lands_on_the_real_node(helm_binary: str, tmp_path: Path):
    objects = rendered(helm_binary, tmp_path)
    config = objects["ConfigMap/demo-diffusion-operator-config"]["data"]
    for variable, value in operator_env(PROMETHEUS).items():
        assert yaml.safe_load(config[variable]) == yaml.safe_load(value), variable  # JSON compares as data
    pod = objects["Deployment/demo-diffusion-operator"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == IMAGES["operator"]
    assert pod["nodeSelector"] == {REAL_NODE_LABEL: "true"}
    assert pod["tolerations"] == tolerations()
    assert "--namespace=demo" in pod["containers"][0]["args"]
    assert "Role/demo-diffusion-operator" in objects and "ClusterRole/demo-diffusion-operator" not in objects
    assert "ServiceMonitor/demo-diffusion-operator" in objects

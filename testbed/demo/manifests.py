"""What the demo applies: the CRDs, the chart's values for the real node, and the sample it serves.

The chart's values come from ``testbed/realnode/product.py``, where the real-node tests take the same
settings as environment variables (``operator_env``): ``CHART_VALUES`` says which value of the chart
sets each variable, so a setting added there and not here fails at once instead of being dropped.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from testbed.demo.options import AUTOSCALE_INTERVAL_S, FIELD_MANAGER, METRICS_WINDOW_S, SERVICE
from testbed.kube import KubeClient, condition
from testbed.paths import REPO_ROOT
from testbed.realnode.kubelet import REAL_NODE_LABEL, tolerations
from testbed.realnode.product import IMAGES, operator_env, tiny_service

API = "diffusion.dev/v1alpha1"
SAMPLE = REPO_ROOT / "manifests" / "samples" / "builtin-tiny.yaml"
CRD_DIR = REPO_ROOT / "manifests" / "crds"
CHART = REPO_ROOT / "charts" / "diffusion-operator"
CRD_API = "apiextensions.k8s.io/v1"

#: ``operator_env()`` variable -> the chart value that sets it (charts/diffusion-operator/templates/configmap.yaml).
CHART_VALUES: dict[str, tuple[str, ...]] = {
    "DIFFUSION_BUILD_BACKEND": ("defaults", "buildBackend"),
    "DIFFUSION_BUILDER_IMAGE": ("defaults", "builderImage"),
    "DIFFUSION_TRITON_IMAGE": ("defaults", "tritonImage"),
    "DIFFUSION_BUILD_REQUESTS": ("defaults", "buildRequests"),
    "DIFFUSION_PROMETHEUS_URL": ("defaults", "prometheusUrl"),
    "DIFFUSION_GPU_NODE_LABELS": ("gpuNodeLabels",),
    "DIFFUSION_GPU_TOLERATIONS": ("gpuTolerations",),
    "DIFFUSION_ACTIVATOR_NODE_SELECTOR": ("activator", "nodeSelector"),
    "DIFFUSION_ACTIVATOR_TOLERATIONS": ("activator", "tolerations"),
}
#: Variables whose value is JSON (the operator parses them: diffusion_operator/config.py), structured in the chart.
JSON_VALUES = frozenset({"DIFFUSION_BUILD_REQUESTS", "DIFFUSION_GPU_NODE_LABELS", "DIFFUSION_GPU_TOLERATIONS",
                         "DIFFUSION_ACTIVATOR_NODE_SELECTOR", "DIFFUSION_ACTIVATOR_TOLERATIONS"})
#: Variables the chart derives from the operator's own image (``image``), not from a value of their own.
FROM_OPERATOR_IMAGE = frozenset({"DIFFUSION_ACTIVATOR_IMAGE"})


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        values = values.setdefault(key, {})
    values[path[-1]] = value


def chart_values(prometheus_url: str, namespace: str) -> dict[str, Any]:
    """Helm values that run the operator as a pod on the real node, configured as product.py says.

    Besides ``operator_env``: the operator's own image, watching only ``namespace`` (other tests'
    services on a shared test bed are not its business: namespaced RBAC mode), the demo's pace, its
    ServiceMonitor on, and a nodeSelector + tolerations that put the pod on the real node (kwok's
    nodes run no containers).
    """
    values: dict[str, Any] = {}
    for variable, text in operator_env(prometheus_url).items():
        if variable in FROM_OPERATOR_IMAGE:
            if text != IMAGES["operator"]:
                raise ValueError(f"the chart sets {variable} to the operator image, not {text}")
            continue
        if variable not in CHART_VALUES:
            raise KeyError(f"product.operator_env() sets {variable}, which no chart value maps to (CHART_VALUES)")
        _set(values, CHART_VALUES[variable], json.loads(text) if variable in JSON_VALUES else text)
    repository, tag = IMAGES["operator"].rsplit(":", 1)
    values.update({
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "watchNamespaces": [namespace],
        "operator": {
            "autoscaleIntervalSeconds": AUTOSCALE_INTERVAL_S,
            "resyncIntervalSeconds": 30,
            "extraEnv": [{"name": "DIFFUSION_METRICS_WINDOW_SECONDS", "value": str(METRICS_WINDOW_S)}],
        },
        "nodeSelector": {REAL_NODE_LABEL: "true"},
        "tolerations": tolerations(),
        "metrics": {"serviceMonitor": {"enabled": True, "interval": "15s"}},
    })
    return values


def values_yaml(values: dict[str, Any]) -> str:
    return "# testbed demo: the chart's values for the test bed's real node (testbed/demo/manifests.py)\n" + \
        yaml.safe_dump(values, sort_keys=False)


def demo_service(namespace: str, scale_down_window_s: int) -> dict[str, Any]:
    """The builtin tiny sample with a short scale-down window (seconds, not minutes), the small
    serving requests the real-node tests use (product.tiny_service), and the photoshoot pipeline."""
    manifest: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    manifest["metadata"].update(name=SERVICE, namespace=namespace)
    manifest["spec"]["serving"] = tiny_service(SERVICE, namespace)["spec"]["serving"]
    manifest["spec"]["pipelines"] = ["text2image", "photoshoot"]  # the gallery's before/after (photoshoot-tiny.yaml)
    manifest["spec"]["autoscaling"]["scaleDown"] = {
        "stabilizationWindowSeconds": scale_down_window_s,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 5}],
    }
    return manifest


def apply_crd(kube: KubeClient, crd: dict[str, Any]) -> None:
    kube.apply(crd, field_manager=FIELD_MANAGER)
    kube.wait_for(CRD_API, "CustomResourceDefinition", crd["metadata"]["name"], None,
                  lambda c: condition(c, "Established") == "True", what="Established")


def apply_product_crds(kube: KubeClient) -> None:
    """The DiffusionService CRD from manifests/crds (what the README says to apply before an upgrade:
    Helm installs crds/ on first install only)."""
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            apply_crd(kube, crd)
    kube.dynamic.resources.invalidate_cache()


def fresh_namespace(kube: KubeClient, namespace: str) -> None:
    if kube.get("v1", "Namespace", namespace) is not None:
        kube.delete("v1", "Namespace", namespace)
        kube.wait_gone("v1", "Namespace", namespace, None, timeout=300)
    kube.create_namespace(namespace, {"app.kubernetes.io/part-of": "testbed-demo"})

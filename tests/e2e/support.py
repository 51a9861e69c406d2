"""What the end-to-end tests share: DiffusionService bodies, predicates, and an operator process.

A plain module (not a conftest, not a test module) so that test modules import it and never each other.
"""

from __future__ import annotations

from typing import Any

from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess

API = "diffusion.dev/v1alpha1"
HOLD = "testbed.dev/fake:build-hold"
#: The operator builds on CPU in the test bed: plans use the onnxruntime backend.
OPERATOR_ENV = {"DIFFUSION_BUILD_BACKEND": "onnxruntime", "DIFFUSION_RESYNC_INTERVAL_SECONDS": "30"}


def service(name: str, namespace: str, **spec: Any) -> dict:
    body: dict = {"model": {"source": "builtin://tiny-sdxl"}}
    for key, value in spec.items():
        body[key] = value
    return {"apiVersion": API, "kind": "DiffusionService", "metadata": {"name": name, "namespace": namespace},
            "spec": body}


def phase_is(phase: str):
    return lambda obj: (obj.to_dict().get("status") or {}).get("phase") == phase


def jobs(kube: KubeClient, namespace: str) -> list:
    return kube.items("batch/v1", "Job", namespace)


def start_operator(cluster: Cluster, namespace: str, name: str = "operator", args: tuple[str, ...] = (),
                   **env: str) -> OperatorProcess:
    process = OperatorProcess(cluster.state_dir, cluster.kubeconfig, name=f"{name}-{namespace}",
                              env={**OPERATOR_ENV, **env}, extra_args=[f"--namespace={namespace}", *args])
    process.start()
    return process

"""The GPU pool's nodes are listed by the Job's node selector, only while the Job is to be created."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.k8s.gateway import KubeError
from diffusion_operator.k8s.observe import observe, observe_build_nodes
from diffusion_operator.reconcile.build_fit import BuildNodes, NodeMemory

L4 = {"metadata": {"name": "gke-l4-a"}, "status": {"allocatable": {"memory": "30442976Ki"}}}
SELECTOR = {"cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "build"}


class Gateway:
    """Reads from ``objects``; lists nodes from ``nodes`` (or raises ``error``), recording each list."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]] | None = None,
                 error: KubeError | None = None) -> None:
        self.objects = objects or {}
        self.error = error
        self.listed: list[tuple[str, str | None]] = []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    def list_objects(self, api_version: str, kind: str, namespace: str | None,
                     label_selector: str | None = None) -> list[dict[str, Any]]:
        self.listed.append((kind, label_selector))
        if kind == "Node" and self.error is not None:
            raise self.error
        return [L4] if kind == "Node" else []

    def pods_of(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return []

    def serves(self, api_version: str, kind: str) -> bool:
        return False


def test_nodes_are_listed_by_the_selector() -> None:
    gateway = Gateway()
    assert observe_build_nodes(gateway, SELECTOR) == BuildNodes(SELECTOR, (NodeMemory("gke-l4-a", 30442976 * 1024),))  # type: ignore[arg-type]
    assert gateway.listed == [("Node", "cloud.google.com/gke-accelerator=nvidia-l4,pool=build")]


def test_an_operator_that_may_not_list_nodes_builds_unchecked() -> None:
    assert observe_build_nodes(Gateway(error=KubeError("forbidden", 403)), SELECTOR) is None  # type: ignore[arg-type]


def test_other_api_errors_are_errors() -> None:
    with pytest.raises(KubeError):
        observe_build_nodes(Gateway(error=KubeError("down", 503)), SELECTOR)  # type: ignore[arg-type]


def test_nodes_are_read_only_while_the_job_is_missing() -> None:
    missing = Gateway()
    assert observe(missing, "n", "s", "k", build_node_selector=SELECTOR).build_nodes is not None  # type: ignore[arg-type]
    running = Gateway({("Job", "engine-k"): {"metadata": {"name": "engine-k"}, "status": {"active": 1}}})
    assert observe(running, "n", "s", "k", build_node_selector=SELECTOR).build_nodes is None  # type: ignore[arg-type]
    assert not any(kind == "Node" for kind, _ in running.listed)

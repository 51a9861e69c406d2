"""Fixtures for end-to-end tests: the CRD installed and the operator running as its own process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from testbed.operator_process import OperatorProcess
from tests.e2e.support import start_operator

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "manifests" / "crds"


@pytest.fixture(scope="session")
def crds(kube: KubeClient) -> None:
    for crd in (doc for path in sorted(CRD_DIR.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())):
        kube.apply(crd, field_manager="e2e")
        kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"], None,
                      lambda c: condition(c, "Established") == "True", what="Established")
    kube.dynamic.resources.invalidate_cache()


@pytest.fixture
def operator(cluster: Cluster, crds: None, namespace: str) -> Iterator[OperatorProcess]:
    """An operator process watching only this test's namespace, so tests never share one."""
    process = start_operator(cluster, namespace)
    yield process
    process.stop()

"""Fixtures for the real-node suite: the product's own images, run by a real kubelet.

The operator runs as a host process here (the chart-installed operator pod has its own tests): it
renders the build Job and the Triton Deployment exactly as in a cluster, configured as
``testbed/realnode/product.py`` says. Every wait that fails dumps the namespace's pods, their
events and their container logs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from testbed.realnode import RealNode
from testbed.realnode.product import operator_env

ROLLBACK_AFTER_SECONDS = 10
#: Requests each activator replica holds at most in this suite (the product's default is 100).
ACTIVATOR_QUEUE_LIMIT = 16


@pytest.fixture(scope="package")
def restricted_namespace(kube: KubeClient, real_node: RealNode, request: pytest.FixtureRequest) -> Iterator[str]:
    """One namespace for the suite that enforces Pod Security ``restricted``: every pod of the suite
    (build Jobs, Triton) is admitted under it, or the suite fails. Sharing it shares the engine cache
    claim, so services with the tiny engine spec after the first are cache hits."""
    name = f"rn-{uuid.uuid4().hex[:6]}"
    failed_before = request.session.testsfailed
    kube.create_namespace(name, {"pod-security.kubernetes.io/enforce": "restricted",
                                 "pod-security.kubernetes.io/enforce-version": "latest"})
    yield name
    if request.session.testsfailed > failed_before:
        print("\n" + kube.dump_pods(name))
    kube.core.delete_namespace(name)


@pytest.fixture(scope="package")
def realnode_operator(cluster: Cluster, crds: None, restricted_namespace: str) -> Iterator[OperatorProcess]:
    url = cluster.start_prometheus()
    process = OperatorProcess(cluster.state_dir, cluster.kubeconfig, name=f"operator-{restricted_namespace}",
                              env={**operator_env(url), "DIFFUSION_RESYNC_INTERVAL_SECONDS": "30",
                                   # The rollback test's grace; the default (120 s) is for clusters.
                                   "DIFFUSION_ROLLBACK_AFTER_SECONDS": str(ROLLBACK_AFTER_SECONDS),
                                   # The scale-to-zero tests: an autoscaler that sees within seconds what
                                   # a cluster's would within a minute, and a queue limit a flood can reach.
                                   "DIFFUSION_AUTOSCALE_INTERVAL_SECONDS": "2",
                                   "DIFFUSION_METRICS_INTERVAL": "1s",
                                   "DIFFUSION_METRICS_WINDOW_SECONDS": "10",
                                   "DIFFUSION_ACTIVATOR_QUEUE_LIMIT": str(ACTIVATOR_QUEUE_LIMIT)},
                              extra_args=[f"--namespace={restricted_namespace}"])
    process.start()
    yield process
    process.stop()

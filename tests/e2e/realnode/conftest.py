"""Fixtures for the real-node suite: the product's own images, run by a real kubelet.

The operator runs as a host process here (the chart-installed operator pod has its own tests): it
renders the build Job and the Triton Deployment exactly as in a cluster, configured as
``testbed/realnode/product.py`` says. Every wait that fails dumps the namespace's pods, their
events and their container logs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import pytest

from testbed import servicemonitors
from testbed.cluster import Cluster
from testbed.demo.manifests import CRD_API
from testbed.demo.monitoring import install_service_monitor_crd
from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from testbed.prometheus import file_scrape
from testbed.realnode import RealNode
from testbed.realnode.product import operator_env
from testbed.servicemonitors import TargetFiles, Translator

ROLLBACK_AFTER_SECONDS = 10
#: Requests each activator replica holds at most in this suite (the product's default is 100).
ACTIVATOR_QUEUE_LIMIT = 16

log = logging.getLogger(__name__)


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


@pytest.fixture(scope="module")
def scrapes(cluster: Cluster, kube: KubeClient, restricted_namespace: str,
            realnode_operator: OperatorProcess) -> Iterator[None]:
    """The operator's ServiceMonitors become Prometheus' scrape jobs for the module (then the bed's own).

    The ServiceMonitor CRD is installed first (the operator renders ServiceMonitors only where the
    kind is served; it notices a CRD installed after its start within its discovery TTL) and removed
    again if it was installed here.
    """
    installed = install_service_monitor_crd(kube)
    prometheus = cluster.prometheus()
    translator = Translator(kube, TargetFiles(prometheus.dir / "targets"), prometheus, [restricted_namespace])
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            try:
                translator.sync()
            except Exception:  # the next pass retries
                log.exception("ServiceMonitor sync failed")
            stop.wait(1)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)
    prometheus.reload([file_scrape("triton", cluster.targets_dir)])
    if installed:
        kube.resource(CRD_API, "CustomResourceDefinition").delete(name=servicemonitors.CRD["metadata"]["name"])

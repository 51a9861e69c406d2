"""The test bed with its real node for the real-node benchmarks, and a namespace with its own operator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from testbed import servicemonitors
from testbed.cluster import Cluster
from testbed.demo.manifests import CRD_API, apply_product_crds
from testbed.demo.monitoring import install_service_monitor_crd
from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from testbed.prometheus import Prometheus, file_scrape
from testbed.realnode.product import operator_env
from testbed.servicemonitors import TargetFiles, Translator


@contextmanager
def real_node_bed() -> Iterator[tuple[Cluster, KubeClient]]:
    """The default test bed with its real node: reused when running, else started and stopped here."""
    cluster = Cluster()
    started_here = not cluster.healthy()
    state = cluster.up(real_node=True)
    if not state.real_node:
        raise SystemExit(f"no real node: {state.real_node_error}")
    try:
        yield cluster, KubeClient(cluster.kubeconfig)
    finally:
        if started_here:
            cluster.down()


@contextmanager
def operator_in_namespace(kube: KubeClient, cluster: Cluster, namespace: str,
                          env: dict[str, str]) -> Iterator[Prometheus]:
    """A fresh namespace watched by the operator (a host process with the real-node settings and ``env``),
    with Prometheus scraping what its ServiceMonitors name there; all removed again on exit."""
    kube.create_namespace(namespace)
    prometheus_url = cluster.start_prometheus()
    operator = OperatorProcess(cluster.state_dir, cluster.kubeconfig, name=f"operator-{namespace}",
                               env={**operator_env(prometheus_url), **env}, extra_args=[f"--namespace={namespace}"])
    prometheus = cluster.prometheus()
    translator = Translator(kube, TargetFiles(prometheus.dir / "targets"), prometheus, [namespace])
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            try:
                translator.sync()
            except Exception as err:  # the next pass retries
                print(f"ServiceMonitor sync failed: {err}")
            stop.wait(1)

    follower = threading.Thread(target=follow, daemon=True)
    apply_product_crds(kube)
    installed = install_service_monitor_crd(kube)  # before the operator: it renders ServiceMonitors where served
    operator.start()
    follower.start()
    try:
        yield prometheus
    finally:
        stop.set()
        follower.join(10)
        prometheus.reload([file_scrape("triton", cluster.targets_dir)])
        operator.stop()
        kube.core.delete_namespace(namespace)
        if installed:
            kube.resource(CRD_API, "CustomResourceDefinition").delete(name=servicemonitors.CRD["metadata"]["name"])

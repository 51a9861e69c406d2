"""testbed/servicemonitors.py: a ServiceMonitor becomes a Kubernetes-SD scrape job, and a real Prometheus
scrapes what it selects with the labels the operator's queries use.

The live test needs no Triton: a Service without a selector and an EndpointSlice written by hand
point at a small metrics server on the real node's bridge address (pod network, this machine), and
the slice's targetRef names a Pod object whose labels Prometheus copies (``podTargetLabels``).
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.service import build_service_monitor

from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from testbed.processes import ManagedProcess, free_port
from testbed.prometheus import Prometheus
from testbed.realnode import RealNode
from testbed.realnode.network import GATEWAY
from testbed.servicemonitors import CRD, ApiServer, TargetFiles, sanitize, scrape_configs, scrape_job, seconds

API = ApiServer("https://127.0.0.1:6443", Path("/ca.crt"), Path("/admin.crt"), Path("/admin.key"))


def rules(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [r for r in job["relabel_configs"] if r.get("action") == action]


def test_label_keys_are_sanitised_as_prometheus_does():
    assert sanitize("diffusion.dev/service") == "diffusion_dev_service"
    assert sanitize("diffusion.dev/engine-key") == "diffusion_dev_engine_key"
    assert sanitize("app.kubernetes.io/instance") == "app_kubernetes_io_instance"


def test_prometheus_durations_are_read_in_seconds():
    assert seconds("15s") == 15 and seconds("1m30s") == 90 and seconds("500ms") == 0.5
    with pytest.raises(ValueError):
        seconds("15")


def test_the_operators_service_monitor_becomes_an_endpointslice_job_keeping_its_service_and_port():
    monitor = build_service_monitor("sdxl", "team-a", RenderSettings())
    [job] = scrape_configs([monitor], API)
    assert job["job_name"] == "serviceMonitor/team-a/sdxl/0"
    [sd] = job["kubernetes_sd_configs"]
    assert sd["role"] == "endpointslice" and sd["api_server"] == API.url
    assert sd["namespaces"] == {"names": ["team-a"]}  # no namespaceSelector: the monitor's own namespace
    assert sd["tls_config"]["cert_file"] == "/admin.crt"
    assert (job["scrape_interval"], job["scrape_timeout"], job["metrics_path"]) == ("15s", "10000ms", "/metrics")
    keep = {tuple(r["source_labels"]): r["regex"] for r in rules(job, "keep")}
    assert keep[("__meta_kubernetes_service_label_app_kubernetes_io_instance",
                 "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance")] == "(sdxl);true"
    assert keep[("__meta_kubernetes_endpointslice_port_name",)] == "metrics"
    copied = {r["target_label"]: r["source_labels"][0] for r in job["relabel_configs"]
              if r.get("target_label") in ("diffusion_dev_service", "diffusion_dev_engine_key")}
    assert copied == {"diffusion_dev_service": "__meta_kubernetes_pod_label_diffusion_dev_service",
                      "diffusion_dev_engine_key": "__meta_kubernetes_pod_label_diffusion_dev_engine_key"}
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod", "service", "container", "job", "endpoint"} <= targets


def test_namespace_selectors_expressions_and_the_crd_fields_translate():
    monitor = {
        "metadata": {"name": "m", "namespace": "mon"},
        "spec": {
            "namespaceSelector": {"any": True},
            "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a.b", "c"]},
                                              {"key": "legacy", "operator": "DoesNotExist"}]},
            "jobLabel": "app",
            "endpoints": [{"port": "web", "interval": "5s", "honorLabels": True,
                           "relabelings": [{"sourceLabels": ["__meta_x"], "targetLabel": "x"}],
                           "metricRelabelings": [{"action": "drop", "regex": "go_.*", "sourceLabels": ["__name__"]}]},
                          {"targetPort": 9100, "path": "/m", "scrapeTimeout": "2s"}],
        },
    }
    first, second = scrape_job(monitor, 0, API), scrape_job(monitor, 1, API)
    assert "namespaces" not in first["kubernetes_sd_configs"][0]
    files = scrape_job(monitor, 0, TargetFiles(Path("/t")))  # where Prometheus lacks the plugin
    assert files["file_sd_configs"] == [{"files": ["/t/serviceMonitor_mon_m_0.json"], "refresh_interval": "1s"}]
    assert files["relabel_configs"] == first["relabel_configs"]
    assert first["honor_labels"] is True and first["scrape_timeout"] == "5000ms"
    assert {"source_labels": ["__meta_kubernetes_service_label_tier", "__meta_kubernetes_service_labelpresent_tier"],
            "regex": r"(a\.b|c);true", "action": "keep"} in first["relabel_configs"]
    assert {"source_labels": ["__meta_kubernetes_service_labelpresent_legacy"], "regex": "true",
            "action": "drop"} in first["relabel_configs"]
    assert first["relabel_configs"][-1] == {"source_labels": ["__meta_x"], "target_label": "x"}
    assert first["metric_relabel_configs"] == [{"action": "drop", "regex": "go_.*", "source_labels": ["__name__"]}]
    assert {"source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": "9100",
            "action": "keep"} in second["relabel_configs"]
    assert (second["metrics_path"], second["scrape_timeout"], second["scrape_interval"]) == ("/m", "2s", "30s")


# -- live: the translator process, a real Prometheus, the test bed's API server ----------------------------
class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE demo_up gauge\ndemo_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def metrics_server(real_node: RealNode) -> Iterator[int]:
    """A /metrics endpoint on the node bridge's address (a pod-network address on this machine)."""
    server = http.server.ThreadingHTTPServer((GATEWAY, free_port()), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _service(namespace: str, name: str, labels: dict[str, str], port_name: str, port: int) -> list[dict[str, Any]]:
    """A selector-less Service and its hand-made EndpointSlice whose one endpoint is ``GATEWAY:port``,
    owned (targetRef) by a Pod named after the Service."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"ports": [{"name": port_name, "port": port}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"{name}-1", "namespace": namespace,
                      "labels": {"kubernetes.io/service-name": name,
                                 "endpointslice.kubernetes.io/managed-by": "tests.testbed"}},
         "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
         "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True},
                        "targetRef": {"kind": "Pod", "name": f"{name}-pod", "namespace": namespace}}]},
    ]


def _pod(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Pod object on a kwok node (nothing runs): Prometheus reads its labels, not its address."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": "default-pool-0", "containers": [{"name": "c", "image": "registry.invalid/none"}]}}


def test_prometheus_scrapes_exactly_what_a_service_monitor_selects_with_the_operators_labels(
        cluster: Cluster, kube: KubeClient, namespace: str, metrics_server: int, tmp_path: Path):
    kube.apply(CRD, field_manager="tests")
    kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD["metadata"]["name"], None,
                  lambda c: condition(c, "Established") == "True", what="Established")
    kube.dynamic.resources.invalidate_cache()
    key = uuid.uuid4().hex[:12]
    pod_labels = {"diffusion.dev/service": "sdxl", "diffusion.dev/engine-key": key}
    selected = {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "sdxl"}
    for manifest in [*_service(namespace, "sdxl", selected, "metrics", metrics_server),
                     *_service(namespace, "other", {**selected, "app.kubernetes.io/instance": "other"},
                               "metrics", metrics_server),
                     *_service(namespace, "wrong-port", {**selected}, "http", metrics_server),
                     _pod(namespace, "sdxl-pod", pod_labels), _pod(namespace, "wrong-port-pod", pod_labels),
                     build_service_monitor("sdxl", namespace, RenderSettings(metrics_interval="1s"))]:
        kube.create(manifest)

    assert cluster.state is not None
    prometheus = Prometheus(tmp_path, name="sm-prometheus")
    prometheus.start([])
    translator = ManagedProcess("sm-translator", tmp_path)
    pki = cluster.pki
    translator.start([sys.executable, "-m", "testbed.servicemonitors", f"--kubeconfig={cluster.kubeconfig}",
                      f"--api-server={cluster.state.server}", f"--ca-file={pki.ca_cert}",
                      f"--cert-file={pki.admin_cert}", f"--key-file={pki.admin_key}", f"--state-dir={tmp_path}",
                      "--prometheus=sm-prometheus", f"--namespace={namespace}"])
    try:
        series: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not series:
            series = prometheus.query(f'demo_up{{namespace="{namespace}"}}')
            time.sleep(0.5)
        assert series, f"nothing scraped; targets {prometheus.targets_up()}\n{translator.log_path.read_text()}"
        time.sleep(3)  # long enough for a wrongly kept target to be scraped too
        series = prometheus.query(f'demo_up{{namespace="{namespace}"}}')
        [labels] = [s["metric"] for s in series]
        assert labels["service"] == "sdxl" and labels["pod"] == "sdxl-pod" and labels["endpoint"] == "metrics"
        assert labels["diffusion_dev_service"] == "sdxl" and labels["diffusion_dev_engine_key"] == key
        assert labels["job"] == "sdxl"
    finally:
        translator.stop()
        prometheus.stop()

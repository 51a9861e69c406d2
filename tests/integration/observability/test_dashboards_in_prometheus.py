"""Every dashboard query runs against real Prometheus scraping real Triton under load, and returns data.

One scenario for the module: Triton serves the ``echo`` model (20 ms per batch, dynamic batching) to
16 closed-loop clients for ~25 s, so requests queue; the operator's own metrics are served from this
process by prometheus_client, set as the operator sets them, and so are the activator's API series
(``activator.metrics.ApiMetrics``, observed as its routes observe them: served, late, refused, failed);
Prometheus scrapes all three every second and evaluates the alert rules (generated for model
``echo``). While the load runs, every panel's and annotation's query from the committed JSON, with its
variables filled in, is executed once.

``UPDATE_DASHBOARD_PREVIEW=1`` also writes the preview PNG to docs/images/ from this run.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from diffusion_operator import alerts, telemetry
from diffusion_operator.activator.metrics import ApiMetrics
from diffusion_operator.api.conditions import Reason
from diffusion_operator.dashboards import generate, preview, queries
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.promql import TritonScope
from prometheus_client import CollectorRegistry, start_http_server

from testbed.load import closed_loop
from testbed.processes import free_port
from testbed.prometheus import Prometheus, static_scrape
from testbed.triton import TritonServer

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "tests" / "integration" / "testbed" / "models"
PREVIEW = REPO / "docs" / "images" / "dashboard-preview.png"
NAMESPACE, SERVICE, MODEL = "obs-test", "sdxl-demo", "echo"
API_TARGET = alerts.DEFAULT_API_TARGET
VARIABLES = {"namespace": NAMESPACE, "service": SERVICE, "model": MODEL, "gpu_price_per_hour": "0.70",
             "datasource": "prometheus", "api_latency_target": API_TARGET}
GENERATIONS = "/v1/images/generations"
CLIENTS = 16
LOAD_S = 25
TARGET_S = 0.002  # far below what 16 clients on a 20 ms model wait, so the SLA is breached

#: Queries that are empty here by construction, each with its reason; the test asserts they are
#: still empty, so the list cannot go stale silently.
EXPECTED_EMPTY = {
    "DCGM_FI_DEV_GPU_UTIL": "no GPU and no NVIDIA DCGM exporter on a CPU test machine",
    "nv_gpu_utilization": "Triton exports GPU metrics only with a GPU (the test bed runs --allow-gpu-metrics=false)",
    "diffusion_degraded_images_total": "only the sdxl pipeline counts speed-tier images; this test bed serves echo",
}


@dataclass
class Scenario:
    prometheus: Prometheus
    results: dict[str, list[dict[str, Any]]]
    at: float
    start: float


def _operator_heartbeat(prometheus: Prometheus, stop: threading.Event) -> None:
    """What the operator would record each sync while it scales this service up and hits its maximum.

    The latency "seen by the autoscaler" is read from Prometheus with the autoscaler's own query.
    """
    seen = promql.queue_latency_seconds(TritonScope(NAMESPACE, SERVICE, MODEL), alerts.WINDOW_S)
    cycle = [("up", Reason.SCALED_UP), ("hold", Reason.AT_MAX_REPLICAS), ("hold", Reason.WITHIN_TOLERANCE)]
    tick = 0
    while not stop.wait(1.0):
        direction, reason = cycle[tick % len(cycle)]
        telemetry.SCALE_DECISIONS.labels(NAMESPACE, SERVICE, direction, reason).inc()
        telemetry.record_service(NAMESPACE, SERVICE, phase="Ready", desired=3 if tick < 8 else 4, ready=2)
        telemetry.record_cold_start(NAMESPACE, SERVICE, 84.0 + tick % 3)
        telemetry.SPEED_TIER_STEPS.labels(NAMESPACE, SERVICE).set(20 if tick % 3 == 0 else 0)
        latest = _finite(prometheus.query(seen))
        if latest:
            telemetry.OBSERVED_QUEUE_SECONDS.labels(NAMESPACE, SERVICE).set(latest[0])
        telemetry.RECONCILE_SECONDS.labels("ok").observe(0.03 + 0.01 * (tick % 5))
        if tick % 4 == 0:
            telemetry.RECONCILE_ERRORS.labels("HTTP409").inc()
            telemetry.ENGINE_BUILDS.labels(NAMESPACE, "started").inc()
            telemetry.ENGINE_BUILDS.labels(NAMESPACE, "succeeded").inc()
            telemetry.ENGINE_BUILD_SECONDS.labels(NAMESPACE).observe(400 + 100 * tick)
        if tick % 6 == 3:
            telemetry.ENGINE_BUILDS.labels(NAMESPACE, "failed").inc()
        tick += 1


def _api_traffic(metrics: ApiMetrics, stop: threading.Event) -> None:
    """What the activator's API records, four times a second: alice's images served, one in five after
    the 30 s target and some held at zero; bob's served fast, one in four failing 503, one in three over
    his key's limit (429); a caller without a key (401). So the share within the target (~0.78) is below
    0.95 and the keyed 5xx share (~11 %) above 5 %: both API alerts go pending."""
    tick = 0
    while not stop.wait(0.25):
        metrics.observe(GENERATIONS, "alice", 200, 42.0 if tick % 5 == 0 else 4.0 + tick % 3, images=2,
                        held_s=1.5 if tick % 10 == 0 else 0.0)
        failed = tick % 4 == 0
        metrics.observe(GENERATIONS, "bob", 503 if failed else 200, 0.8, images=0 if failed else 1)
        if tick % 3 == 0:
            metrics.observe(GENERATIONS, "bob", 429, 0.001)
        metrics.observe(GENERATIONS, None, 401, 0.0005)
        tick += 1


def _instant(prometheus: Prometheus, expr: str, at: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "time": at})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{params}", timeout=10) as response:
        payload = json.loads(response.read())
    assert payload["status"] == "success", payload
    return list(payload["data"]["result"])


def _dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in generate.dashboard_files().items()}


def _all_queries() -> list[queries.PanelQuery]:
    found = []
    for board in _dashboards().values():
        found += queries.panel_queries(board) + queries.annotation_queries(board)
    return found


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("observability")
    rules = tmp / "alerts.yaml"
    rules.write_text(alerts.render_yaml(alerts.rule_groups("5m", model=MODEL)))
    # Counters exist at 0 before the first scrape, as a long-running operator's would.
    for result in ("started", "succeeded", "failed"):
        telemetry.ENGINE_BUILDS.labels(NAMESPACE, result)
    telemetry.QUEUE_TARGET_SECONDS.labels(NAMESPACE, SERVICE).set(TARGET_S)
    telemetry.record_service(NAMESPACE, SERVICE, phase="Ready", desired=2, ready=1)
    operator_port, activator_port = free_port(), free_port()
    server, _ = start_http_server(operator_port, addr="127.0.0.1")
    api_registry = CollectorRegistry()
    api_metrics = ApiMetrics(api_registry)
    activator_server, _ = start_http_server(activator_port, addr="127.0.0.1", registry=api_registry)
    triton = TritonServer(tmp, MODELS)
    prometheus = Prometheus(tmp)
    stop = threading.Event()
    workers: list[threading.Thread] = []
    try:
        triton.start()
        prometheus.start([
            static_scrape("triton", [triton.metrics_url.removeprefix("http://").removesuffix("/metrics")],
                          {"namespace": NAMESPACE, "pod": f"{SERVICE}-6b7c9d-x2k4q",
                           "diffusion_dev_service": SERVICE}),
            # No namespace/service target labels: like a ServiceMonitor with honorLabels, the
            # operator's own namespace/service labels reach Prometheus unchanged.
            static_scrape("diffusion-operator", [f"127.0.0.1:{operator_port}"]),
            # The activator's pods carry the service label as Triton's do (its ServiceMonitor's podTargetLabels).
            static_scrape("activator", [f"127.0.0.1:{activator_port}"],
                          {"namespace": NAMESPACE, "pod": f"{SERVICE}-activator-7f9c4-q2w8e",
                           "diffusion_dev_service": SERVICE}),
        ], rule_files=[rules])
        start = time.time()
        workers = [threading.Thread(target=closed_loop, args=(triton.http_url, MODEL, stop),
                                    kwargs={"width": 16}) for _ in range(CLIENTS)]
        workers.append(threading.Thread(target=_operator_heartbeat, args=(prometheus, stop)))
        workers.append(threading.Thread(target=_api_traffic, args=(api_metrics, stop)))
        for worker in workers:
            worker.start()
        time.sleep(LOAD_S)
        at = time.time()
        results = {q.expr: _instant(prometheus, queries.substitute(q.expr, VARIABLES), at) for q in _all_queries()}
        for name, expr in _alert_checks().items():
            results[name] = _instant(prometheus, expr, at)
        yield Scenario(prometheus, results, at, start)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        prometheus.stop()
        triton.stop()
        server.shutdown()
        activator_server.shutdown()


def _alert_checks() -> dict[str, str]:
    return {
        "fleet queue latency": alerts.queue_latency_by_service(MODEL),
        "fleet API share within target": alerts.api_latency_share_by_service(API_TARGET, alerts.WINDOW_S),
        "ALERTS": "ALERTS",
    }


def _finite(series: list[dict[str, Any]]) -> list[float]:
    return [float(s["value"][1]) for s in series if math.isfinite(float(s["value"][1]))]


@pytest.mark.timeout(300)
def test_every_dashboard_query_returns_data_under_load(scenario: Scenario) -> None:
    empty = []
    for query in _all_queries():
        if any(metric in query.expr for metric in EXPECTED_EMPTY):
            continue
        if not _finite(scenario.results[query.expr]):
            empty.append(f"{query.panel} [{query.ref_id}]: {query.expr} -> {scenario.results[query.expr]}")
    assert not empty, "queries without a finite sample:\n" + "\n".join(empty)


def test_expected_empty_queries_are_empty_for_their_stated_reason(scenario: Scenario) -> None:
    listed = [q for q in _all_queries() if any(metric in q.expr for metric in EXPECTED_EMPTY)]
    assert {metric for q in listed for metric in EXPECTED_EMPTY if metric in q.expr} == set(EXPECTED_EMPTY)
    for query in listed:
        assert scenario.results[query.expr] == [], f"{query.expr} has data now: drop it from EXPECTED_EMPTY"


def test_the_load_breaches_the_sla_and_batches(scenario: Scenario) -> None:
    by_panel = {(q.panel, q.ref_id): _finite(scenario.results[q.expr]) for q in _all_queries()}
    latency = by_panel[("Queue latency vs SLA target", "A")][0]
    target = by_panel[("Queue latency vs SLA target", "C")][0]
    assert target == pytest.approx(TARGET_S)
    assert latency > target, "16 clients on a 20 ms model must queue"
    assert by_panel[("Batch size", "A")][0] > 1.5, "dynamic batching should batch under this load"
    images = by_panel[("Images per second", "A")][0]
    cost = by_panel[("Cost per image", "A")][0]
    assert cost == pytest.approx(0.70 * 2 / 3600 / images, rel=0.05)


def test_per_service_alert_expression_equals_the_dashboards_single_service_value(scenario: Scenario) -> None:
    fleet = scenario.results["fleet queue latency"]
    assert [s["metric"] for s in fleet] == [{"namespace": NAMESPACE, "diffusion_dev_service": SERVICE}]
    dashboard = next(q for q in _all_queries() if q.panel == "Queue latency vs SLA target" and q.ref_id == "A")
    single = _finite(scenario.results[dashboard.expr])[0]
    assert float(fleet[0]["value"][1]) == pytest.approx(single, rel=1e-9)


def test_the_api_row_sees_what_the_clients_saw(scenario: Scenario) -> None:
    by_panel = {(q.panel, q.ref_id): _finite(scenario.results[q.expr]) for q in _all_queries()}
    p50, p95, p99, target = (by_panel[("API latency (edge)", ref)][0] for ref in "ABCD")
    assert 0.8 <= p50 < p95 <= p99 and p99 > float(API_TARGET) == target, "one in five of alice's is late"
    share = by_panel[("API requests within the latency target", "A")][0]
    assert 0.6 < share < 0.95, share
    server_errors, held = by_panel[("API 5xx share and time held at zero", "A")][0], \
        by_panel[("API 5xx share and time held at zero", "B")][0]
    assert 0.05 < server_errors < 0.2 and 0 < held < 0.1, (server_errors, held)
    codes = {s["metric"]["code"] for s in scenario.results[next(
        q.expr for q in _all_queries() if q.panel == "API requests by status code")]}
    assert codes == {"200", "401", "429", "503"}


def test_per_service_api_share_equals_the_dashboards_single_service_value(scenario: Scenario) -> None:
    fleet = scenario.results["fleet API share within target"]
    assert [s["metric"] for s in fleet] == [{"namespace": NAMESPACE, "diffusion_dev_service": SERVICE}]
    panel = next(q for q in _all_queries() if q.panel == "API requests within the latency target")
    assert float(fleet[0]["value"][1]) == pytest.approx(_finite(scenario.results[panel.expr])[0], rel=1e-9)


def test_alert_rules_see_the_breach_and_nothing_else(scenario: Scenario) -> None:
    active = {(s["metric"]["alertname"], s["metric"]["alertstate"]) for s in scenario.results["ALERTS"]}
    services = {s["metric"].get("diffusion_dev_service") for s in scenario.results["ALERTS"]
                if s["metric"]["alertname"].startswith(("DiffusionSLABreach", "DiffusionAPI"))}
    # `for: 5m` keeps the SLA and API alerts pending in a 25 s run; the build alert has no `for`.
    assert active == {("DiffusionSLABreach", "pending"), ("DiffusionSLABreachAtMaxReplicas", "pending"),
                      ("DiffusionEngineBuildFailing", "firing"), ("DiffusionAPISLABreach", "pending"),
                      ("DiffusionAPIServerErrors", "pending")}
    assert services == {SERVICE}


def test_preview_png_is_drawn_from_the_run(scenario: Scenario, tmp_path: Path) -> None:
    panels = preview.fetch(scenario.prometheus.url, VARIABLES, scenario.start, scenario.at, step=1.0)
    assert set(panels) == set(preview.KEY_PANELS)
    assert all(series for _, series in panels.values()), {k: len(v[1]) for k, v in panels.items()}
    out = PREVIEW if os.environ.get("UPDATE_DASHBOARD_PREVIEW") == "1" else tmp_path / "preview.png"
    preview.render(panels, out, f"{preview.main.TITLE}: {NAMESPACE}/{SERVICE} (echo model, CPU Triton, {CLIENTS} "
                                f"clients; API row: activator series set by the test)")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size < 300_000

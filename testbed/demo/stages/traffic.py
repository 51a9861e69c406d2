"""Stage 6: an open-loop load makes the autoscaler add pods, the load then spreads over them, and after
it stops the service scales back down.

Two load runs, not one: each of the load generator's connections stays on the pod kube-proxy chose
when it opened (iptables DNAT is per connection), so connections opened before the scale-up never
reach the new pods. The second run opens fresh ones over the Ready pods: it is cut into short
chunks, each a load run of its own (its own connections, opened when its chunk begins), so many
connections are drawn over the pods instead of the few a single run at this rate keeps open, and a
pod that turns Ready meanwhile is reached by the next chunks.
Triton's own statistics, read from each pod before and after, count its requests per pod.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tritonclient.http as httpclient
from diffusion_operator.client.loadtest import LoadResult, measure_capacity, run_load
from diffusion_operator.client.stats import summarize
from diffusion_operator.client.traces import arrival_schedule
from diffusion_operator.client.triton import MODEL, Endpoint, TritonClient
from diffusion_operator.render.deployment import HTTP_PORT

from testbed.demo.context import Demo
from testbed.demo.manifests import API
from testbed.demo.options import CONCURRENCY, MAX_RATE, OVERLOAD, SCRAPE_INTERVAL_S, SERVICE
from testbed.demo.report import DemoReport
from testbed.demo.stages.service import base_request
from testbed.demo.watch import PodTracker, ReplicaWatch, wait_until

#: The SLA the load reports against (the sample's queueLatencyTarget is 500 ms of queueing alone).
SLA_S = 2.0
#: Length of each chunk of the load after the scale-up (each opens its own connections, see above).
CHUNK_S = 3.0


def sdxl_instances(endpoint: Endpoint) -> int:
    """Instances of the ``sdxl`` BLS model (pipelines that run at once), from the served model config."""
    client = httpclient.InferenceServerClient(endpoint.address)
    try:
        config = client.get_model_config(MODEL)
    finally:
        client.close()
    return max(1, sum(int(group.get("count", 1)) for group in config.get("instance_group", [])))


def _successes(address: str) -> int | None:
    client = TritonClient(Endpoint.parse(f"{address}:{HTTP_PORT}"), timeout_s=10)
    try:
        return client.statistics().success_count
    except Exception:  # a pod going away: no figure
        return None
    finally:
        client.close()


def _summary(result: LoadResult, rate: float, trace: str, scheduled: int) -> dict[str, Any]:
    return {**result.summary.to_json(), "rate": rate, "trace": trace, "scheduled": scheduled}


def _combined(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The phases as one load for the summary: counts summed, the highest rate, the larger phase's latency."""
    largest = max(phases.values(), key=lambda p: p["requests"])
    return {**largest, **{key: sum(p[key] for p in phases.values()) for key in ("requests", "succeeded", "errors")},
            "rate": max(p["rate"] for p in phases.values()), "trace": "+".join(p["trace"] for p in phases.values())}


def load_and_scale(demo: Demo, tracker: PodTracker) -> None:
    options, report, stages, kube = demo.options, demo.report, demo.stages, demo.kube
    endpoint, base = demo.endpoint, base_request()
    assert endpoint is not None
    with stages.step("warm up + calibrate (one pod)") as notes:
        instances = sdxl_instances(endpoint)
        # As many requests at once as pipelines run: capacity without a queue the autoscaler would act on.
        capacity = measure_capacity(endpoint, base, instances, rounds=2)
        rate = round(min(MAX_RATE, max(2.0, OVERLOAD * capacity)), 1)
        notes.append(f"{capacity:.1f} images/s with {instances} sdxl instances -> load at {rate}/s")
    with ReplicaWatch(kube, SERVICE, demo.ns, time.monotonic()) as watch:
        with stages.step("open-loop load (step trace) until the added pods are Ready") as notes:
            stop = threading.Event()
            arrivals = arrival_schedule("step", rate, options.load_seconds)

            def serving_on_all() -> bool:
                """Scaled up, every replica Ready and each pod's first request answered (PodTracker)."""
                return watch.peak > 1 and watch.settled() and len(tracker.ready_pods()) >= (watch.current or 0)

            def stop_when_scaled() -> None:
                if wait_until(lambda: stop.is_set() or serving_on_all(), options.load_seconds):
                    stop.set()

            threading.Thread(target=stop_when_scaled, daemon=True).start()
            first = run_load(endpoint, base, arrivals, concurrency=CONCURRENCY, sla_s=SLA_S, stop=stop)
            stop.set()
            report.load_phases["until_scaled"] = _summary(first, rate, "step", len(arrivals))
            report.scaled_up = watch.peak > 1
            s = first.summary
            notes.append(f"{s.requests} requests, p50 {s.p50_s or 0:.2f}s p95 {s.p95_s or 0:.2f}s, errors {s.errors}; "
                         + (f"replicas {watch.peak}, {watch.ready} Ready" if report.scaled_up
                            else "[red]no scale-up seen[/red]"))
        seen = threading.Timer(SCRAPE_INTERVAL_S + 1, _what_prometheus_saw, args=(demo,))
        if report.scaled_up:
            spread_load(demo, tracker, endpoint, capacity)
            seen.start()  # one scrape after the load: Prometheus has counted all of it
        with stages.step("scale back down (load stopped)") as notes:
            report.scaled_down = report.scaled_up and wait_until(
                lambda: watch.current == 1 and watch.ready == 1, options.scale_timeout_s)
            notes.append("back at 1 replica" if report.scaled_down else f"still {watch.current} replicas")
            if report.scaled_up:
                seen.join()
                notes.append(f"Prometheus scraped {len(report.targets)} Triton pods; sdxl successes per pod: "
                             + ", ".join(f"{p} {v:.0f}" for p, v in sorted(report.prometheus_per_pod.items())))
        report.replicas_timeline = list(watch.timeline)
    report.load = _combined(report.load_phases)
    report.pod_startups = list(tracker.startups.values())
    _autoscaler_story(demo)


class SpreadCounter:
    """Requests each pod served through the Service since the spread load began (Triton's statistics).

    A pod Ready at the start counts from its figure then; one that turns Ready meanwhile from 1 (the
    PodTracker's own first request, sent to its address rather than through the Service).
    """

    def __init__(self, tracker: PodTracker) -> None:
        self.tracker = tracker
        self.baseline = {pod: _successes(ip) for pod, ip in tracker.ready_pods().items()}

    def counts(self) -> dict[str, int]:
        counted = {}
        for pod, ip in self.tracker.ready_pods().items():
            now, earlier = _successes(ip), self.baseline.get(pod, 1)
            if now is not None and earlier is not None:
                counted[pod] = now - earlier
        return counted

    def everyone_served(self) -> bool:
        counted = self.counts()
        return bool(counted) and all(n > 0 for n in counted.values())


def spread_load(demo: Demo, tracker: PodTracker, endpoint: Endpoint, capacity: float) -> None:
    """What one pod just sustains, on fresh connections over the Ready pods (no queue grows on 2 shared
    cores, where more pods add no compute), in CHUNK_S chunks that each open their own connections,
    for ``spread_seconds`` and then until every Ready pod has served (a pod the autoscaler adds
    meanwhile included), at most twice as long."""
    report, options = demo.report, demo.options
    rate = round(capacity, 1)
    with demo.stages.step(f"load over {len(tracker.ready_pods())} pods (fresh connections)") as notes:
        counter = SpreadCounter(tracker)
        chunk = arrival_schedule("constant", rate, CHUNK_S)
        started = time.monotonic()
        runs = []
        with ThreadPoolExecutor(max_workers=int(2 * options.spread_seconds / CHUNK_S) + 1,
                                thread_name_prefix="chunk") as pool:
            for index in itertools.count():
                elapsed = time.monotonic() - started
                if elapsed >= 2 * options.spread_seconds or (
                        elapsed >= options.spread_seconds and counter.everyone_served()):
                    break
                runs.append(pool.submit(run_load, endpoint, base_request(), chunk, concurrency=CONCURRENCY,
                                        sla_s=SLA_S))
                time.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.monotonic()))
            results: list[LoadResult] = [run.result() for run in runs]
        samples = sorted((s for r in results for s in r.samples), key=lambda s: s.scheduled_s)
        summary = summarize(samples, SLA_S, None, time.monotonic() - started)
        report.load_phases["spread"] = {**summary.to_json(), "rate": rate, "trace": "constant",
                                        "scheduled": len(chunk) * len(runs)}
        report.requests_per_pod = counter.counts()
        per_pod = ", ".join(f"{pod} {n}" for pod, n in sorted(report.requests_per_pod.items()))
        notes.append(f"{summary.requests} requests at {rate}/s, p50 {summary.p50_s or 0:.2f}s, errors "
                     f"{summary.errors}; per pod: {per_pod}")


def _what_prometheus_saw(demo: Demo) -> None:
    """The Triton targets Prometheus scrapes (found through the ServiceMonitor) and their request counts."""
    ns, report = demo.ns, demo.report
    with contextlib.suppress(Exception):  # a figure for the summary: missing, it stays empty
        _query_prometheus(demo, ns, report)


def _query_prometheus(demo: Demo, ns: str, report: DemoReport) -> None:
    query = (f'sum by (pod) (nv_inference_request_success{{model="{MODEL}",namespace="{ns}",'
             f'diffusion_dev_service="{SERVICE}"}})')
    report.prometheus_per_pod = {s["metric"].get("pod", "?"): float(s["value"][1])
                                 for s in demo.monitoring.query(query)}
    report.targets = [t for t in demo.monitoring.targets(f'namespace="{ns}",service="{SERVICE}"')
                      if t.get("up") == "1"]


def _autoscaler_story(demo: Demo) -> None:
    """The operator's ScaledUp/ScaledDown Events and its last word, for the summary."""
    report = demo.report
    report.decisions = [line for line in demo.kube.events_for(demo.ns, SERVICE)
                        if " ScaledUp " in line or " ScaledDown " in line]
    status = demo.get(API, "DiffusionService", SERVICE).to_dict().get("status") or {}
    report.phase = status.get("phase")
    report.last_decision = (status.get("autoscaling") or {}).get("lastDecisionReason")
    report.scaling_conditions = [f"{c['type']}={c['status']} {c.get('reason', '')}: {c.get('message', '')}"
                                 for c in status.get("conditions") or []
                                 if c.get("type") in ("ScalingActive", "ScalingLimited", "Fallback")]

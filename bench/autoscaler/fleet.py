"""A discrete-event simulator of a Triton fleet behind a Kubernetes Service.

Each pod is one GPU with its own Triton queue and dynamic batcher; the Service routes each request to
the pod with the fewest outstanding requests (a least-request balancer, the kindest realistic choice;
``FleetConfig.routing`` ``random`` is kube-proxy's choice instead, per new connection).
Requests queued at a pod stay there: a new pod only helps with what arrives after it is ready. With no
ready pod at all, requests wait in an activator buffer (as scale-to-zero needs). Scaled-down pods stop
receiving, finish their queue, then free the GPU, no sooner than ``FleetConfig.termination_s`` after
their removal (the preStop sleep and Triton's shutdown). GPU time counts from pod creation (it holds the
GPU while starting) to its end.

Request sizes (``Trace.sizes``) scale a request's service time; a batch takes its size's execution
time times the mean of its requests' sizes. The BLS pipeline runs every UNet step as a Triton call the
dynamic batcher merges across requests, so a pod's throughput follows the steps it runs in total: a
short request leaves the batch early and its slot is refilled (modelled here as an even share).
A scaler may also run an overload speed tier: after each sync the fleet reads its ``step_factor`` (1.0:
full steps; 20/30: the tier's floor) and every batch started while it is below 1 serves the requests
that did not pin their steps with that fraction of the work, marked degraded. A scaler with a
``step_factor_at(now)`` method (the bounds' instant tier) is asked at each batch start instead, so its
tier needs no sync to switch.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from bench.autoscaler.model import NODE_KEEP_S, NODE_PROVISIONING_S, SERVICE_JITTER_CV, FleetConfig
from bench.autoscaler.prometheus import ScrapeStore
from bench.autoscaler.traces import FloatArray, Trace


class PodState(Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    GONE = "gone"


@dataclass
class Pod:
    id: int
    created: float
    state: PodState = PodState.STARTING
    queue: deque[int] = field(default_factory=deque)
    batch: list[int] = field(default_factory=list)
    batch_start: float = 0.0
    ended: float | None = None
    ready_at: float | None = None  # None for the warm pods of the start (never measured)
    terminated_at: float = 0.0  # removed pods: when the preStop sleep and shutdown are over
    queue_us: float = 0.0
    success: float = 0.0
    service_us: float = 0.0
    inference_count: float = 0.0
    exec_count: float = 0.0
    steps: float = 0.0  # the pipeline's steps counter (full: 1 per request, degraded: step_factor)

    @property
    def outstanding(self) -> int:
        return len(self.queue) + len(self.batch)


@dataclass(frozen=True)
class ClusterView:
    """What a scaler may look at: Kubernetes' replica counts and Prometheus' samples."""

    now: float
    spec_replicas: int
    ready_replicas: int
    live_pods: frozenset[int]  # pods the Deployment owns (starting or ready)
    ready_pods: frozenset[int]
    prometheus: ScrapeStore
    # (pod, created -> Ready seconds) of the pods that started cold: what the operator reads from pods.
    pod_starts: tuple[tuple[int, float], ...] = ()


Scaler = Callable[[ClusterView], int]

_ARRIVAL, _READY, _DONE, _SCRAPE, _SYNC, _TERMINATED = range(6)


@dataclass
class SimResult:
    waits: FloatArray
    degraded: npt.NDArray[np.bool_]
    gpu_seconds: float
    scale_events: int
    timeline: dict[str, list[float]]


class FleetSimulator:
    def __init__(self, trace: Trace, config: FleetConfig, scaler: Scaler, initial_replicas: int, *,
                 seed: int = 11, outages: tuple[tuple[float, float], ...] = ()) -> None:
        self.trace, self.config, self.scaler = trace, config, scaler
        self.rng = np.random.default_rng(seed)
        self.now = 0.0
        self.pods: dict[int, Pod] = {}
        self.ready: list[Pod] = []
        self.activator: deque[int] = deque()
        self.events: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.waits = np.full(len(trace.arrivals), np.nan)
        self.degraded = np.zeros(len(trace.arrivals), dtype=bool)
        self.sizes = trace.sizes if trace.sizes is not None else np.ones(len(trace.arrivals))
        self.pinned = trace.pinned if trace.pinned is not None else np.zeros(len(trace.arrivals), dtype=bool)
        self.step_factor = 1.0
        self.step_factor_served = np.ones(len(trace.arrivals))
        self.store = ScrapeStore(outages=outages)
        self.scale_events = 0
        self.free_nodes: list[float] = [math.inf] * initial_replicas  # nodes that exist from the start
        self.timeline: dict[str, list[float]] = {"t": [], "spec": [], "ready": [], "pending": []}
        self.gone_gpu_seconds = 0.0
        # Pods present at the start are warm: ready at t=0 (as a steady fleet would be).
        for _ in range(initial_replicas):
            pod = self._add_pod(warm=True)
            pod.state = PodState.READY
            self.ready.append(pod)

    def _push(self, at: float, kind: int, payload: int = -1) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    def _add_pod(self, warm: bool = False) -> Pod:
        pod = Pod(id=len(self.pods), created=self.now)
        self.pods[pod.id] = pod
        if warm:
            return pod
        samples = self.config.cold_start_samples
        delay = float(self.rng.choice(samples)) if samples else self.config.cold_start_s
        if self.config.node_provisioning:
            self.free_nodes = [t for t in self.free_nodes if t > self.now]
            if self.free_nodes:
                self.free_nodes.pop()
            else:
                delay += float(self.rng.uniform(*NODE_PROVISIONING_S))
        self._push(self.now + delay, _READY, pod.id)
        return pod

    def _live(self) -> list[Pod]:
        return [p for p in self.pods.values() if p.state in (PodState.STARTING, PodState.READY)]

    def _end_pod(self, pod: Pod) -> None:
        pod.state = PodState.GONE
        pod.ended = self.now
        self.gone_gpu_seconds += self.now - pod.created
        self.free_nodes.append(self.now + NODE_KEEP_S)

    def _scale_to(self, replicas: int) -> None:
        live = self._live()
        if replicas == len(live):
            return
        self.scale_events += 1
        if replicas > len(live):
            for _ in range(replicas - len(live)):
                self._add_pod()
            return
        # ReplicaSet deletion order: not-ready before ready, then the most recently ready first.
        victims = sorted(live, key=lambda p: (p.state is PodState.READY, -p.created))[: len(live) - replicas]
        for pod in victims:
            if pod.state is PodState.READY:
                self.ready.remove(pod)
            if not pod.outstanding and self.config.termination_s <= 0:
                self._end_pod(pod)
                continue
            pod.state = PodState.DRAINING
            pod.terminated_at = self.now + self.config.termination_s
            if self.config.termination_s > 0:
                self._push(pod.terminated_at, _TERMINATED, pod.id)

    def _dispatch(self, request: int) -> None:
        if not self.ready:
            self.activator.append(request)
            return
        if self.config.routing == "random":
            pod = self.ready[int(self.rng.integers(len(self.ready)))]
        else:
            pod = min(self.ready, key=lambda p: p.outstanding)
        pod.queue.append(request)
        if not pod.batch:
            self._start_batch(pod)

    def _start_batch(self, pod: Pod) -> None:
        size = min(len(pod.queue), self.config.curve.max_batch_size)
        pod.batch = [pod.queue.popleft() for _ in range(size)]
        pod.batch_start = self.now
        work = 0.0
        step_factor = self._step_factor_now()
        for request in pod.batch:
            self.waits[request] = self.now - self.trace.arrivals[request]
            factor = float(self.sizes[request])
            if step_factor < 1.0 and not self.pinned[request]:
                factor *= step_factor
                self.degraded[request] = True
                self.step_factor_served[request] = step_factor
            work += factor
        duration = self.config.curve.execution_s(size) * work / size * float(self.rng.lognormal(0.0, SERVICE_JITTER_CV))
        self._push(self.now + duration, _DONE, pod.id)

    def _step_factor_now(self) -> float:
        at = getattr(self.scaler, "step_factor_at", None)
        return self.step_factor if at is None else float(at(self.now))

    def _finish_batch(self, pod: Pod) -> None:
        execution_us = (self.now - pod.batch_start) * 1e6
        for request in pod.batch:
            pod.steps += self.step_factor_served[request]
            pod.queue_us += self.waits[request] * 1e6
            pod.service_us += execution_us
            pod.success += 1
        pod.inference_count += len(pod.batch)
        pod.exec_count += 1
        pod.batch = []
        if pod.queue:
            self._start_batch(pod)
        elif pod.state is PodState.DRAINING and self.now >= pod.terminated_at:
            self._end_pod(pod)

    def _scrape(self) -> None:
        totals = dict.fromkeys(("queue_us", "success", "service_us", "inference_count", "exec_count", "steps"), 0.0)
        per_pod: dict[int, tuple[float, float]] = {}
        pending = float(len(self.activator))
        for pod in self.pods.values():
            totals["queue_us"] += pod.queue_us
            totals["success"] += pod.success
            totals["service_us"] += pod.service_us
            totals["inference_count"] += pod.inference_count
            totals["exec_count"] += pod.exec_count
            totals["steps"] += pod.steps
            if pod.state in (PodState.READY, PodState.DRAINING):
                pending += len(pod.queue)
                per_pod[pod.id] = (pod.queue_us, pod.success)
        totals["pending"] = pending
        self.store.record(self.now, totals, per_pod)

    def _sync(self) -> None:
        live = self._live()
        view = ClusterView(
            now=self.now, spec_replicas=len(live), ready_replicas=len(self.ready),
            live_pods=frozenset(p.id for p in live), ready_pods=frozenset(p.id for p in self.ready),
            prometheus=self.store,
            pod_starts=tuple((p.id, p.ready_at - p.created) for p in self.ready if p.ready_at is not None),
        )
        desired = max(0, min(self.scaler(view), self.config.max_replicas))
        self._scale_to(desired)
        self.step_factor = float(getattr(self.scaler, "step_factor", 1.0))
        self.timeline["t"].append(self.now)
        self.timeline["spec"].append(float(len(self._live())))
        self.timeline["ready"].append(float(len(self.ready)))
        self.timeline["pending"].append(float(sum(len(p.queue) for p in self.ready) + len(self.activator)))

    def run(self) -> SimResult:
        end = self.trace.duration_s
        arrivals = self.trace.arrivals
        for k in range(int(end // self.config.scrape_interval_s) + 1):
            self._push(k * self.config.scrape_interval_s, _SCRAPE)
        for k in range(int(end // self.config.sync_interval_s)):
            self._push(k * self.config.sync_interval_s + self.config.sync_offset_s, _SYNC)
        next_request, total = 0, len(arrivals)
        while True:
            next_arrival = arrivals[next_request] if next_request < total else math.inf
            next_event = self.events[0][0] if self.events else math.inf
            at = min(next_arrival, next_event)
            if at > end:
                break
            self.now = float(at)
            if next_arrival <= next_event:
                self._dispatch(next_request)
                next_request += 1
                continue
            _, _, kind, payload = heapq.heappop(self.events)
            if kind == _DONE:
                self._finish_batch(self.pods[payload])
            elif kind == _READY:
                self._on_ready(self.pods[payload])
            elif kind == _TERMINATED:
                self._on_terminated(self.pods[payload])
            elif kind == _SCRAPE:
                self._scrape()
            else:
                self._sync()
        return self._result(end)

    def _on_ready(self, pod: Pod) -> None:
        if pod.state is not PodState.STARTING:
            return  # deleted while starting
        pod.state = PodState.READY
        pod.ready_at = self.now
        self.ready.append(pod)
        while self.activator:
            self._dispatch(self.activator.popleft())

    def _on_terminated(self, pod: Pod) -> None:
        if pod.state is PodState.DRAINING and not pod.outstanding:
            self._end_pod(pod)  # otherwise it ends when its last batch does

    def _result(self, end: float) -> SimResult:
        unfinished = np.isnan(self.waits)
        self.waits[unfinished] = end - self.trace.arrivals[unfinished]  # still waiting at the end
        gpu = self.gone_gpu_seconds + sum(end - p.created for p in self.pods.values() if p.state is not PodState.GONE)
        return SimResult(self.waits, self.degraded, gpu, self.scale_events, self.timeline)

"""The real side: a service on the real node serving the emulated model, scaled by ours or by the HPA.

The service is the real-node tiny service (its build Job runs for real and publishes a repository);
then its published repository is replaced by the emulated ``sdxl`` and the Triton pods are recreated,
so every pod the autoscaler starts later loads the emulated model (``repository.py``). The scaler is
either the operator's autoscaler (``spec.autoscaling``) or an ``autoscaling/v2`` HPA on the
DiffusionService's ``/scale`` subresource reading the Triton chart's per-pod queue metric through the
test bed's metrics adapter (the operator then only renders what ``spec.replicas`` says).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from diffusion_operator.render.names import selector_string
from kubernetes import client as k8s

from bench.realnode.bed import operator_in_namespace
from bench.realnode.pods import ready, until
from bench.sim_to_real import settings
from bench.sim_to_real.load import LoadResult, replay
from bench.sim_to_real.repository import write_repository
from engine_builder.layout import MODEL_REPOSITORY_DIR
from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.provisioner import volume_path
from testbed.realnode.product import API, tiny_service

NAME = "emulated"
POLL_S = 0.5
#: The operator at the compressed speed (settings.py): its tick, scrape interval and rate window.
OPERATOR_ENV = {"DIFFUSION_AUTOSCALE_INTERVAL_SECONDS": str(settings.TICK_S), "DIFFUSION_METRICS_INTERVAL": "1s",
                "DIFFUSION_METRICS_WINDOW_SECONDS": str(settings.RATE_WINDOW_S)}
Scaler = Literal["ours", "hpa"]


@dataclass(frozen=True)
class HpaSide:
    """What the HPA side leaves running: how to read the HPA's own view each poll, and its teardown."""

    read_status: Callable[[], dict[str, Any] | None]
    teardown: Callable[[], None]


#: Installs the HPA side (the metrics adapter and the HPA object) for a namespace.
HpaInstaller = Callable[[KubeClient, Cluster, str, str], HpaSide]


@dataclass
class Timeline:
    """Polled every ``POLL_S``: seconds since the trace start, the Deployment's replicas, Ready pods, and
    pods that exist at all (starting, ready or terminating: each holds its GPU)."""

    t: list[float] = field(default_factory=list)
    spec: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    live: list[int] = field(default_factory=list)
    first_seen: dict[str, float] = field(default_factory=dict)
    first_ready: dict[str, float] = field(default_factory=dict)
    #: The HPA's status at each poll (``t`` added): the metric it last computed and what it decided.
    hpa_status: list[dict[str, Any]] = field(default_factory=list)

    def cold_starts(self, after: float = 0.0) -> list[float]:
        """First seen -> first seen Ready of the pods created after ``after`` (both polled: unbiased)."""
        return [self.first_ready[pod] - seen for pod, seen in self.first_seen.items()
                if seen > after and pod in self.first_ready]

    def pod_seconds(self, start: float, end: float) -> float:
        """The integral of ``live`` over [start, end), each sample holding until the next (polls take time:
        the samples are ``POLL_S`` plus two API calls apart, not ``POLL_S``)."""
        t, live = np.asarray(self.t), np.asarray(self.live, dtype=float)
        until = np.append(t[1:], t[-1]) if len(t) else t
        overlap = np.clip(np.minimum(until, end) - np.maximum(t, start), 0.0, None)
        return float((live * overlap).sum())

    def termination_s(self) -> float | None:
        """How long a removed pod held its GPU, on average: the pod-seconds beyond what the Deployment
        asked for (pods still terminating) per pod it stopped asking for. None without a scale-down."""
        t, live, spec = np.asarray(self.t), np.asarray(self.live, dtype=float), np.asarray(self.spec, dtype=float)
        removed = float(np.clip(-np.diff(spec), 0.0, None).sum()) if len(spec) > 1 else 0.0
        if not removed:
            return None
        beyond = np.clip(live - spec, 0.0, None)[:-1] * np.diff(t)
        return float(beyond.sum()) / removed

    def to_dict(self) -> dict[str, Any]:
        return {"t": [round(v, 3) for v in self.t], "spec": self.spec, "ready": self.ready, "live": self.live,
                "first_seen": self.first_seen, "first_ready": self.first_ready, "hpa_status": self.hpa_status}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        return cls(**data)


@dataclass
class RealRun:
    scaler: str
    load: LoadResult
    start: float  # wall clock of the replay's t = 0
    timeline: Timeline
    initial_replicas: int
    cold_start_status: dict[str, Any] | None  # the operator's status.autoscaling.coldStart at the trace start

    @property
    def arrivals(self) -> npt.NDArray[np.float64]:
        """When each request actually left (seconds after start): the simulator replays exactly these."""
        return self.load.sent_at - self.start

    def to_dict(self) -> dict[str, Any]:
        """Everything the prediction and the report read, so a run can be re-analysed without the node."""
        return {"scaler": self.scaler, "start": self.start, "initial_replicas": self.initial_replicas,
                "cold_start_status": self.cold_start_status, "timeline": self.timeline.to_dict(),
                "sent_at": [round(v, 4) for v in self.load.sent_at], "waits": [
                    None if np.isnan(w) else round(float(w), 4) for w in self.load.waits],
                "errors": self.load.errors}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealRun:
        waits = np.array([np.nan if w is None else w for w in data["waits"]], dtype=float)
        load = LoadResult(np.asarray(data["sent_at"], dtype=float), waits, list(data["errors"]))
        return cls(data["scaler"], load, float(data["start"]), Timeline.from_dict(data["timeline"]),
                   int(data["initial_replicas"]), data["cold_start_status"])


def _poll(kube: KubeClient, namespace: str, start: float, timeline: Timeline, stop: threading.Event,
          read_hpa: Callable[[], dict[str, Any] | None] | None = None) -> None:
    selector = selector_string(NAME)
    while not stop.is_set():
        try:
            deployment = k8s.AppsV1Api(kube.api_client).read_namespaced_deployment(NAME, namespace)
            pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
            hpa = read_hpa() if read_hpa is not None else None
        except Exception as err:  # a missed sample is a gap, not a failed run
            print(f"poll failed: {err}")
            stop.wait(POLL_S)
            continue
        now = time.time() - start
        timeline.t.append(now)
        timeline.spec.append(int(deployment.spec.replicas or 0))
        timeline.ready.append(len([p for p in pods if ready(p) and not p.metadata.deletion_timestamp]))
        timeline.live.append(len(pods))
        for pod in pods:
            timeline.first_seen.setdefault(pod.metadata.name, now)
            if ready(pod):
                timeline.first_ready.setdefault(pod.metadata.name, now)
        if hpa is not None:
            timeline.hpa_status.append({"t": round(now, 3), **hpa})
        stop.wait(POLL_S)


def _serve_emulated(kube: KubeClient, cluster: Cluster, namespace: str) -> None:
    """Wait for the real build to publish, put the emulated model in its place, restart the pods on it."""
    status, _ = until(lambda: ((kube.get(API, "DiffusionService", NAME, namespace).to_dict().get("status") or {})
                               .get("engine") or {}).get("servingCacheKey"), 900, "an engine served")
    claims = kube.core.list_namespaced_persistent_volume_claim(namespace).items
    if len(claims) != 1:
        raise RuntimeError(f"expected the namespace's one engine cache claim, found {len(claims)}")
    claim = kube.api_client.sanitize_for_serialization(claims[0])
    write_repository(volume_path(cluster.volumes_dir, claim) / status / MODEL_REPOSITORY_DIR)
    selector = selector_string(NAME)
    old = {p.metadata.name for p in kube.core.list_namespaced_pod(namespace, label_selector=selector).items}
    kube.core.delete_collection_namespaced_pod(namespace, label_selector=selector, grace_period_seconds=0)

    def settled() -> bool:
        deployment = k8s.AppsV1Api(kube.api_client).read_namespaced_deployment(NAME, namespace)
        pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
        return (len(pods) == (deployment.spec.replicas or 0) and all(ready(p) for p in pods)
                and not old & {p.metadata.name for p in pods})

    until(settled, 300, "the pods serving the emulated model")


def run(kube: KubeClient, cluster: Cluster, scaler: Scaler, arrivals: npt.NDArray[np.float64],
        install_hpa: HpaInstaller | None = None) -> RealRun:
    """One run of ``arrivals`` (seconds, warm-up included) against a fresh service scaled by ``scaler``."""
    namespace = f"s2r-{scaler}-{uuid.uuid4().hex[:4]}"
    spec: dict[str, Any] = ({"autoscaling": settings.our_autoscaling()} if scaler == "ours"
                            else {"replicas": settings.MIN_REPLICAS})
    with operator_in_namespace(kube, cluster, namespace, OPERATOR_ENV):
        kube.create(tiny_service(NAME, namespace, **spec))
        _serve_emulated(kube, cluster, namespace)
        hpa_side = None
        if scaler == "hpa":
            if install_hpa is None:
                raise RuntimeError("the HPA side needs the metrics adapter (install_hpa)")
            hpa_side = install_hpa(kube, cluster, namespace, NAME)
        try:
            status = kube.get(API, "DiffusionService", NAME, namespace).to_dict().get("status") or {}
            initial = int(k8s.AppsV1Api(kube.api_client).read_namespaced_deployment(NAME, namespace).spec.replicas or 0)
            service = kube.core.read_namespaced_service(NAME, namespace)
            start = time.time() + 1.0
            timeline, stop = Timeline(), threading.Event()
            read_hpa = hpa_side.read_status if hpa_side is not None else None
            poller = threading.Thread(target=_poll, args=(kube, namespace, start, timeline, stop, read_hpa),
                                      daemon=True)
            poller.start()
            try:
                load = replay(f"{service.spec.cluster_ip}:8000", arrivals, start)
                time.sleep(2 * POLL_S)
            finally:
                stop.set()
                poller.join(10)
            return RealRun(scaler, load, start, timeline, initial,
                           (status.get("autoscaling") or {}).get("coldStart"))
        finally:
            if hpa_side is not None:
                hpa_side.teardown()

"""Background watchers: the Deployment's replicas over time, and each Triton pod's way to serving."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Self

from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.deployment import HTTP_PORT

from testbed.demo.report import PodStartup
from testbed.demo.timings import is_ready, pod_startup
from testbed.kube import KubeClient


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class _Poller:
    """A daemon thread calling ``poll`` every ``interval`` seconds while the ``with`` block runs."""

    interval = 0.5

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=type(self).__name__)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def poll(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # an API hiccup must not end the watch
                self.poll()
            self._stop.wait(self.interval)


class ReplicaWatch(_Poller):
    """The Deployment's ``spec.replicas`` (what the autoscaler writes) and ready replicas, over time."""

    def __init__(self, kube: KubeClient, name: str, namespace: str, started: float) -> None:
        super().__init__()
        self.kube, self.name, self.namespace, self.started = kube, name, namespace, started
        self.timeline: list[tuple[float, int]] = []
        self.ready = 0

    @property
    def current(self) -> int | None:
        return self.timeline[-1][1] if self.timeline else None

    @property
    def peak(self) -> int:
        return max((r for _, r in self.timeline), default=0)

    def settled(self) -> bool:
        """Every replica the autoscaler asked for is Ready."""
        return self.current is not None and self.ready >= self.current

    def poll(self) -> None:
        deployment = self.kube.get("apps/v1", "Deployment", self.name, self.namespace)
        if deployment is None:
            return
        replicas = int(deployment.spec.replicas)
        self.ready = int(deployment.status.readyReplicas or 0)
        if replicas != self.current:
            self.timeline.append((round(time.monotonic() - self.started, 1), replicas))


class PodTracker(_Poller):
    """Each Triton pod, once Ready: its startup figures, then one request straight to its address.

    That first request pays for cold ONNX Runtime sessions, which is part of a new pod's way to
    serving; it goes to the pod IP (the pod network), not through the Service.
    """

    def __init__(self, kube: KubeClient, namespace: str, selector: str, request: ImageRequest) -> None:
        super().__init__()
        self.kube, self.namespace, self.selector, self.request = kube, namespace, selector, request
        self.startups: dict[str, PodStartup] = {}
        self.addresses: dict[str, str] = {}
        self._lock = threading.Lock()

    def ready_pods(self) -> dict[str, str]:
        """Pod name -> IP of the pods measured so far that are still Ready."""
        with self._lock:
            return dict(self.addresses)

    def measured(self, pod: str) -> bool:
        with self._lock:
            startup = self.startups.get(pod)
            return startup is not None and startup.first_inference_s is not None

    def poll(self) -> None:
        found: Any = self.kube.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        pods: list[Any] = found.items
        ready = {p.metadata.name: p for p in pods if is_ready(p) and p.status.pod_ip}
        with self._lock:
            self.addresses = {name: p.status.pod_ip for name, p in ready.items() if name in self.startups}
        for name, pod in ready.items():
            if name not in self.startups:
                self._measure(pod)

    def _measure(self, pod: Any) -> None:
        name = pod.metadata.name
        log = ""
        with contextlib.suppress(Exception):
            log = self.kube.core.read_namespaced_pod_log(name, self.namespace)
        startup = pod_startup(pod, log)
        client = TritonClient(Endpoint.parse(f"{pod.status.pod_ip}:{HTTP_PORT}"), timeout_s=180)
        try:
            started = time.monotonic()
            client.generate(self.request)
            startup.first_inference_s = round(time.monotonic() - started, 2)
        except Exception:  # the figure stays empty; the load shows whether the pod serves
            pass
        finally:
            client.close()
        with self._lock:
            self.startups[name] = startup
            self.addresses[name] = pod.status.pod_ip

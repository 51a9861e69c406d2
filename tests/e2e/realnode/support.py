"""Small reads and waits the real-node modules share (a DiffusionService's status, a pod exec)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes.stream import stream

from testbed.kube import KubeClient, WaitTimeoutError
from testbed.realnode.product import API


def status_of(obj: Any) -> dict:
    return obj.to_dict().get("status") or {}


def condition_of(obj: Any, type_: str) -> dict:
    return next((c for c in status_of(obj).get("conditions") or [] if c["type"] == type_), {})


def kube_exec(kube: KubeClient, namespace: str, pod: str, command: list[str]) -> str:
    return str(stream(kube.core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
                      stderr=True, stdin=False, stdout=True, tty=False))


def service_waiter(service: str, default_timeout: float = 600) -> Callable[..., Any]:
    """``wait(kube, namespace, predicate, what, timeout)`` on one DiffusionService; a timeout carries the
    namespace's pods, their events and logs, so a failed wait says why."""

    def wait(kube: KubeClient, namespace: str, predicate: Any, what: str, timeout: float = default_timeout) -> Any:
        try:
            return kube.wait_for(API, "DiffusionService", service, namespace, predicate, timeout=timeout, what=what)
        except WaitTimeoutError as err:
            raise WaitTimeoutError(f"{err}\n{kube.dump_pods(namespace)}") from None

    return wait

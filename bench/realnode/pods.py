"""Pods followed through their phases by polling (Kubernetes timestamps have 1 s resolution).

``until`` returns the monotonic time a condition was first seen, so a benchmark can subtract two such
times for a phase; polling every ``POLL_S`` bounds the error at that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from testbed.kube import KubeClient

POLL_S = 0.2


def until(predicate: Callable[[], Any], timeout: float, what: str) -> tuple[Any, float]:
    """The first truthy value of ``predicate`` and the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value, time.monotonic()
        time.sleep(POLL_S)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def pod_with(kube: KubeClient, namespace: str, selector: str, check: Callable[[Any], bool]) -> Any:
    return next((p for p in kube.core.list_namespaced_pod(namespace, label_selector=selector).items if check(p)), None)


def scheduled(pod: Any) -> bool:
    return bool(pod.spec.node_name)


def started(pod: Any) -> bool:
    return any(s.state.running or s.state.terminated for s in pod.status.container_statuses or [])


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def terminated(pod: Any) -> bool:
    return any(s.state.terminated for s in pod.status.container_statuses or [])

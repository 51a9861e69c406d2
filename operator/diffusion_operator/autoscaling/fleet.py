"""The Triton fleet as one tick sees it: the Deployment's counts and its pods, parsed once.

Why one parser: the tick reads the same pod list for three purposes (the learned cold start, the
speed tier's addresses, the pods a scale-down ranks), and three hand-written readers of the same
dicts drifted (one skipped terminating pods, one did not need the Ready time). The Kubernetes edge
returns plain dicts; this turns them into the fields the planner needs. Pure: no client, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from diffusion_operator.autoscaling.cold_start import PodStart


@dataclass(frozen=True)
class Pod:
    """One Triton pod: where it answers, when it was created and became Ready, whether it is going."""

    name: str
    address: str | None
    created: datetime | None
    ready: bool
    ready_since: datetime | None  # the Ready condition's transition time, while Ready
    terminating: bool

    @property
    def serving(self) -> bool:
        """Ready, reachable and staying: a pod worth telling the speed tier."""
        return self.ready and self.address is not None and not self.terminating

    @property
    def start(self) -> PodStart | None:
        """Created -> Ready (the cold start's evidence); None while starting or when going away."""
        if self.terminating or self.created is None or self.ready_since is None:
            return None
        return PodStart(self.name, (self.ready_since - self.created).total_seconds())


@dataclass(frozen=True)
class Fleet:
    """``replicas``: the Deployment's ``spec.replicas``; ``ready``: its ready count; ``pods``: None when
    the tick did not list them (a steady fleet costs no list call, ``needs_pods``)."""

    replicas: int
    ready: int
    pods: tuple[Pod, ...] | None = None

    @property
    def starts(self) -> tuple[PodStart, ...]:
        return tuple(start for pod in self.pods or () if (start := pod.start) is not None)

    @property
    def serving_addresses(self) -> tuple[str, ...]:
        return tuple(pod.address for pod in self.pods or () if pod.serving and pod.address is not None)

    @property
    def live_pods(self) -> tuple[str, ...] | None:
        """The pods a scale-down may remove (None: not listed this tick)."""
        if self.pods is None:
            return None
        return tuple(pod.name for pod in self.pods if not pod.terminating)


def parse_fleet(deployment: Mapping[str, Any], pods: Iterable[Mapping[str, Any]] | None = None) -> Fleet:
    """The Deployment's ``spec.replicas`` and ``status.readyReplicas``, and its pods when listed."""
    return Fleet(replicas=int((deployment.get("spec") or {}).get("replicas") or 0),
                 ready=int((deployment.get("status") or {}).get("readyReplicas") or 0),
                 pods=None if pods is None else tuple(p for p in map(parse_pod, pods) if p is not None))


def parse_pod(pod: Mapping[str, Any]) -> Pod | None:
    """One pod object (as the API server returns it); None without a name."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if not meta.get("name"):
        return None
    ready = next((c for c in status.get("conditions") or []
                  if c.get("type") == "Ready" and c.get("status") == "True"), None)
    return Pod(name=str(meta["name"]), address=status.get("podIP") or None,
               created=_time(meta.get("creationTimestamp")), ready=ready is not None,
               ready_since=_time((ready or {}).get("lastTransitionTime")),
               terminating=bool(meta.get("deletionTimestamp")))


def _time(value: Any) -> datetime | None:
    """The client returns datetimes; raw JSON (and tests) RFC 3339 text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None

"""The learned cold start: how long this service's own Triton pods take from created to Ready.

Why. The predictive floor looks one cold start ahead and the speed tier asks whether the queue will
breach the SLA before starting pods serve; both used a constant (90 s, an SDXL engine load on L4). The
real figure depends on the engine (fp8 engines are half the size), the node (a cached image or not),
the cluster (GPU node provisioning adds 4-7 min) and the storage the engines come from, so the service
measures its own: ``metadata.creationTimestamp`` to the pod's Ready condition, read by the Kubernetes
edge and parsed with the fleet (``autoscaling/fleet.py``).

What is kept. The last ``MAX_SAMPLES`` pods (name and seconds) in ``status.autoscaling.coldStart``, so
a pod is counted once and a restart changes nothing. The estimate is their 75th percentile (nearest
rank): one pod that waited for a node does not move it, a slow trend does, and it errs on the slow side,
which makes the floor order a little early rather than late. Samples outside (0, ``MAX_COLD_START_S``]
(clock skew, a pod Ready again after hours of flapping) are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from diffusion_operator.api.status import COLD_START_SAMPLES

#: How many pods are kept (``api.status.COLD_START_SAMPLES``: the status schema's limit is its one home).
MAX_SAMPLES = COLD_START_SAMPLES
MAX_COLD_START_S = 3600.0
QUANTILE = 0.75


@dataclass(frozen=True)
class PodStart:
    pod: str
    seconds: float

    @property
    def plausible(self) -> bool:
        return math.isfinite(self.seconds) and 0 < self.seconds <= MAX_COLD_START_S


@dataclass(frozen=True)
class ColdStart:
    samples: tuple[PodStart, ...] = ()

    @property
    def seconds(self) -> float | None:
        """The 75th percentile of the samples (nearest rank), or None before the first pod was measured."""
        if not self.samples:
            return None
        ordered = sorted(s.seconds for s in self.samples)
        return ordered[max(0, math.ceil(QUANTILE * len(ordered)) - 1)]

    def with_pods(self, starts: Iterable[PodStart]) -> ColdStart:
        """Add pods not seen yet (by name), keeping the newest ``MAX_SAMPLES``; implausible ones are dropped."""
        known = {s.pod for s in self.samples}
        added = [s for s in starts if s.plausible and s.pod not in known]
        unique = list({s.pod: s for s in added}.values())
        return ColdStart((*self.samples, *unique)[-MAX_SAMPLES:])

    def to_dict(self) -> dict[str, Any]:
        seconds = self.seconds
        return {"seconds": None if seconds is None else round(seconds, 1),
                "samples": [{"pod": s.pod, "seconds": round(s.seconds, 1)} for s in self.samples]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ColdStart:
        if not data:
            return cls()
        return cls(tuple(PodStart(str(s["pod"]), float(s["seconds"])) for s in data.get("samples") or []))

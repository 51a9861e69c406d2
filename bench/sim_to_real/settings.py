"""One compressed experiment: the bench/autoscaler fleet at 10x speed, small enough for one real node.

Every duration of the uncompressed benchmark (bench/autoscaler/model.py) is divided by ``COMPRESSION``
where the APIs allow it: the L4 service time (9 s -> 0.9 s per image), the queue SLA (10 s -> 1 s),
the operator's tick (15 s -> 1.5 s) and rate window (60 s -> 6 s), the behaviour windows and periods
(rounded up to whole seconds, the CRD's unit), the HPA's sync period and stabilization. Arrival rates
are multiplied by it, so queues hold the same number of requests as the uncompressed trace would. The
cold start is whatever the real node measures (Triton's start plus the startup probe's period); the
simulator is given those measurements. Scrapes stay at 1 s (Prometheus' finest practical interval).

The trace is small on purpose (peak ~7 pods): the node has 2 cores and every pod is a real process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.autoscaler.model import L4_SDXL, QUEUE_SLA_S
from bench.autoscaler.traces import FloatArray, Trace, poisson_arrivals

COMPRESSION = 10.0
SINGLE_S = L4_SDXL.single_s / COMPRESSION
EXPONENT = L4_SDXL.exponent
MAX_BATCH_SIZE = L4_SDXL.max_batch_size
SLA_S = QUEUE_SLA_S / COMPRESSION
SCRAPE_S = 1.0
TICK_S = 15.0 / COMPRESSION
RATE_WINDOW_S = 6  # DIFFUSION_METRICS_WINDOW_SECONDS (60 s / 10; the operator's floor is 5)
HPA_SYNC_S = 15.0 / COMPRESSION
HPA_WINDOW_S = 5  # the chart's delta(...[30s]) compressed; 3 s would hold too few 1 s scrapes
HPA_DOWN_STABILIZATION_S = 30  # autoscaling/v2's 300 s default, compressed
MIN_REPLICAS = 1
MAX_REPLICAS = 8  # the real node advertises 8 GPUs (testbed/realnode/kubelet.py)
WARMUP_S = 60.0  # base load before the measured trace, so the fleet starts in its steady state
SEED = 7


def _seconds(value: float) -> int:
    """A compressed duration in whole seconds (the CRD's and HPA's unit), never 0 where 0 means off."""
    return max(1, math.ceil(value / COMPRESSION))


def intensity() -> FloatArray:
    """Requests/s per compressed second: base 1, a 3x step for 3 min, back, then a 2 min ramp to 3 (8 min)."""
    rate = np.full(480, 1.0)
    rate[60:240] = 3.0
    rate[360:480] = np.linspace(1.0, 3.0, 120)
    return rate


def trace() -> Trace:
    rate = intensity()
    arrivals = poisson_arrivals(rate, np.random.default_rng(SEED))
    return Trace("compressed step + ramp", intensity.__doc__ or "", rate, arrivals)


def our_autoscaling() -> dict[str, object]:
    """``spec.autoscaling`` for the operator: the CRD's defaults, compressed."""
    return {
        "enabled": True,
        "minReplicas": MIN_REPLICAS,
        "maxReplicas": MAX_REPLICAS,
        "queueLatencyTarget": f"{int(SLA_S * 1000)}ms",
        "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [
            {"type": "Pods", "value": 8, "periodSeconds": _seconds(15)},
            {"type": "Percent", "value": 900, "periodSeconds": _seconds(15)}]},
        "scaleDown": {"stabilizationWindowSeconds": _seconds(120), "burstMemory": f"{_seconds(90 * 60)}s",
                      "policies": [{"type": "Percent", "value": 50, "periodSeconds": _seconds(60)},
                                   {"type": "Pods", "value": 1, "periodSeconds": _seconds(60)}]},
    }


@dataclass(frozen=True)
class HpaSettings:
    """The HPA as Triton's k8s-onprem chart configures it, at our SLA (the chart's 50 us would never settle)."""

    target_us: float = SLA_S * 1e6
    window_s: int = HPA_WINDOW_S
    down_stabilization_s: int = HPA_DOWN_STABILIZATION_S
    policy_period_s: int = _seconds(15)  # autoscaling/v2's default policies run per 15 s

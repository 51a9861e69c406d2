"""A queueing model of a Triton fleet: how many replicas keep the queue wait under an SLA.

Pure and cheap, shared by the decision (sizing from observed arrival rate and service time), the
benchmark's oracle and a future ``diffusion plan`` capacity planner.

Model: c identical replicas fed by one Poisson stream (M/G/c). The probability that a request waits at
all is Erlang C; the wait tail is exponential with rate ``(c/s - λ)``, stretched by the Allen-Cunneen
factor ``(1 + cv²)/2`` for non-exponential service. SDXL at a fixed size and step count is nearly
deterministic (cv² ≈ 0.1), which makes queues about half as long as the textbook M/M/c predicts.
Per-pod queues behind a least-request balancer wait a little longer than one shared queue; the
decision's latency feedback covers that gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_REPLICAS_SEARCHED = 10_000


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival has to wait, for ``servers`` servers and load ``λ·s`` (Erlangs)."""
    if servers <= 0:
        return 1.0
    if offered_load <= 0:
        return 0.0
    if offered_load >= servers:
        return 1.0
    blocking = 1.0  # Erlang B by its stable recursion, then converted to Erlang C
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return servers * blocking / (servers - offered_load * (1 - blocking))


def wait_exceeds_probability(servers: int, arrival_rate: float, service_time_s: float, wait_s: float,
                             service_time_cv2: float = 1.0) -> float:
    """P(queue wait > ``wait_s``) for a request arriving at a fleet of ``servers`` replicas."""
    load = arrival_rate * service_time_s
    if load >= servers:
        return 1.0
    stretch = (1 + service_time_cv2) / 2
    drain_rate = (servers / service_time_s - arrival_rate) / stretch
    return erlang_c(servers, load) * math.exp(-drain_rate * wait_s)


def mean_wait_s(servers: int, arrival_rate: float, service_time_s: float,
                service_time_cv2: float = 1.0) -> float:
    """Average queue wait (infinite when the fleet is overloaded)."""
    load = arrival_rate * service_time_s
    if load >= servers:
        return math.inf
    stretch = (1 + service_time_cv2) / 2
    return erlang_c(servers, load) * stretch / (servers / service_time_s - arrival_rate)


def replicas_for_queue_sla(arrival_rate: float, service_time_s: float, target_wait_s: float,
                           quantile: float = 0.99, service_time_cv2: float = 1.0) -> int:
    """Fewest replicas so that ``quantile`` of requests wait at most ``target_wait_s`` in the queue.

    ``service_time_s`` is replica-seconds per request (a batch's duration divided by its size).
    Zero demand needs zero replicas; the caller applies its own minimum.
    """
    if arrival_rate <= 0 or service_time_s <= 0:
        return 0
    allowed_tail = 1 - quantile
    servers = max(1, math.floor(arrival_rate * service_time_s) + 1)
    while servers < MAX_REPLICAS_SEARCHED:
        if wait_exceeds_probability(servers, arrival_rate, service_time_s, target_wait_s,
                                    service_time_cv2) <= allowed_tail:
            return servers
        servers += 1
    return MAX_REPLICAS_SEARCHED


@dataclass(frozen=True)
class BatchingCurve:
    """How long one execution of ``b`` requests takes on one replica: ``single_s · b^exponent``.

    An exponent of 1 means batching gains nothing; SDXL's UNet at 1024² is compute-bound, so measured
    gains are small (exponent ≈ 0.93: batch 4 is ~10 % more throughput than batch 1).
    """

    single_s: float
    exponent: float = 1.0
    max_batch_size: int = 1

    def execution_s(self, batch: int) -> float:
        return self.single_s * math.pow(batch, self.exponent)

    def seconds_per_request(self, batch: int) -> float:
        return self.execution_s(batch) / batch

    def max_throughput(self) -> float:
        """Requests per second one replica sustains when every execution is a full batch."""
        return 1.0 / self.seconds_per_request(self.max_batch_size)

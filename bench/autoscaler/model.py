"""The modelled fleet: SDXL base 1024², 30 steps on NVIDIA L4, served by Triton behind a Service.

Service time. No authoritative L4 figure exists (FACTS.md). Anchors: stabilityai's TensorRT card gives
A10 8.16 s per image; L4 is the A10's class (Ada SM 8.9, ~121 vs ~125 dense fp16 tensor TFLOPS) with
half its memory bandwidth (300 vs 600 GB/s), so we take 10 % slower: 9.0 s. Batching: SDXL's UNet at
1024² is compute-bound, so dynamic batching gains little — a batch of b takes 9.0·b^0.93 s (batch 4 is
~10 % more throughput), up to max_batch_size 4. Cold start (image pull from cache, engine
deserialisation, Triton ready) 90 s; optional GPU node provisioning 4-7 min (Triton GKE README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diffusion_operator.autoscaling.capacity import BatchingCurve

L4_SDXL = BatchingCurve(single_s=9.0, exponent=0.93, max_batch_size=4)
SERVICE_JITTER_CV = 0.03  # execution-time noise (lognormal sigma): steps are fixed, kernels are not
COLD_START_S = 90.0
NODE_PROVISIONING_S = (240.0, 420.0)
NODE_KEEP_S = 600.0  # cluster-autoscaler's scale-down-unneeded-time: a freed node stays this long
SCRAPE_INTERVAL_S = 15.0
SYNC_INTERVAL_S = 15.0
SYNC_OFFSET_S = 5.0  # scalers evaluate a few seconds after a scrape, as an unaligned timer would

QUEUE_SLA_S = 10.0
MIN_REPLICAS = 1
MAX_REPLICAS = 64


@dataclass(frozen=True)
class FleetConfig:
    curve: BatchingCurve = L4_SDXL
    cold_start_s: float = COLD_START_S
    node_provisioning: bool = False
    scrape_interval_s: float = SCRAPE_INTERVAL_S
    sync_interval_s: float = SYNC_INTERVAL_S
    sla_s: float = QUEUE_SLA_S
    min_replicas: int = MIN_REPLICAS
    max_replicas: int = MAX_REPLICAS
    sync_offset_s: float = SYNC_OFFSET_S
    #: How the Service spreads requests: ``least_request`` (a request-aware balancer, the default) or
    #: ``random`` (kube-proxy's iptables mode with a new connection per request: what the real node does).
    routing: Literal["least_request", "random"] = "least_request"
    #: Measured pod-created -> Ready times to draw each cold start from; empty: ``cold_start_s`` each time.
    cold_start_samples: tuple[float, ...] = ()
    #: The least time a removed pod keeps its GPU (the product's preStop sleep, then Triton's shutdown);
    #: it serves its queue meanwhile. 0: an idle pod is gone the moment it is removed.
    termination_s: float = 0.0

"""``diffusion plan``: how many replicas a peak rate and a queue SLA need, and what an image costs.

It reuses the autoscaler's queueing model (``autoscaling.capacity``: M/G/c, Erlang C with the
Allen-Cunneen correction), so the plan and the running autoscaler disagree only where reality
differs from the model, never because of two formulas. Service times are data with their source:
measured anchors where a public figure exists, a labelled estimate where none does; ``--service-time``
overrides them with your own measurement: replica-seconds per image, i.e. 1 / the images/s one
replica sustains when saturated (``diffusion loadtest`` at a rate above its capacity shows that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffusion_operator.autoscaling.capacity import mean_wait_s, replicas_for_queue_sla, wait_exceeds_probability
from diffusion_operator.client.errors import UsageError

#: SDXL at a fixed size and step count is nearly deterministic (autoscaling/capacity.py).
SDXL_SERVICE_TIME_CV2 = 0.1
ANCHOR_STEPS = 30
ANCHOR_PIXELS = 1024 * 1024
#: Extra max replicas over the peak's need: new GPU nodes take 4-7 min (FACTS.md), so the fleet must
#: absorb a surge that outruns node provisioning.
DEFAULT_HEADROOM = 0.2
#: Without ``--min-rate`` the quiet hours are taken as a quarter of the peak.
DEFAULT_TROUGH_FRACTION = 0.25


@dataclass(frozen=True)
class ServiceTime:
    """Seconds one replica spends per SDXL base image at 1024², 30 steps, batch 1, and where it comes from."""

    seconds: float
    source: str
    measured: bool


_MODEL_CARD = "stabilityai/stable-diffusion-xl-1.0-tensorrt model card (TensorRT, 1024², 30 steps)"
#: Per GPU type (the CRD's serving.gpu.type values).
SERVICE_TIMES: dict[str, ServiceTime] = {
    "nvidia-h100-80gb": ServiceTime(1.471, _MODEL_CARD, measured=True),
    "nvidia-a100-80gb": ServiceTime(2.742, _MODEL_CARD + ", A100", measured=True),
    "nvidia-tesla-a100": ServiceTime(2.742, _MODEL_CARD + ", A100", measured=True),
    "nvidia-a10g": ServiceTime(8.16, _MODEL_CARD + ", A10 (A10G is AWS's A10)", measured=True),
    "nvidia-l4": ServiceTime(
        8.16, "estimate: the A10 anchor (similar fp16 throughput); no authoritative L4 figure was found",
        measured=False),
}


@dataclass(frozen=True)
class PlanInput:
    rate: float
    sla_s: float
    gpu: str
    service_time: ServiceTime
    quantile: float = 0.95
    min_rate: float | None = None
    headroom: float = DEFAULT_HEADROOM
    price_per_hour: float | None = None


@dataclass(frozen=True)
class Plan:
    replicas_at_peak: int
    min_replicas: int
    max_replicas: int
    utilization_at_peak: float
    attainment_at_peak: float
    attainment_with_max: float
    mean_wait_at_peak_s: float
    gpu_hours_per_1000_at_peak: float
    gpu_hours_per_1000_floor: float
    dollars_per_1000_at_peak: float | None
    dollars_per_1000_floor: float | None


def service_time_for(gpu: str, override_s: float | None = None, steps: int = ANCHOR_STEPS,
                     width: int = 1024, height: int = 1024) -> ServiceTime:
    """The anchor for ``gpu`` scaled to ``steps`` and size (UNet work grows ~linearly with both).

    The scaling is a first-order estimate: the text encoders and VAE do not grow with steps, so few
    steps or small images cost relatively more than it predicts. Measure and pass ``override_s``.
    """
    if override_s is not None:
        if override_s <= 0:
            raise UsageError(f"service time: {override_s} must be > 0 seconds")
        return ServiceTime(override_s, "--service-time (yours)", measured=True)
    anchor = SERVICE_TIMES.get(gpu)
    if anchor is None:
        raise UsageError(f"gpu {gpu!r}: no service-time anchor; known: {', '.join(sorted(SERVICE_TIMES))} "
                         "(or pass --service-time)")
    scale = (steps / ANCHOR_STEPS) * (width * height / ANCHOR_PIXELS)
    if scale == 1:
        return anchor
    return ServiceTime(anchor.seconds * scale, f"{anchor.source}, scaled x{scale:.3g} to {steps} steps at "
                       f"{width}x{height}", measured=False)


def plan(given: PlanInput) -> Plan:
    """Size a fleet for the peak, with headroom for the max and the trough for the min."""
    if given.rate <= 0:
        raise UsageError(f"rate: {given.rate} must be > 0 images per second")
    if given.sla_s <= 0:
        raise UsageError(f"sla: {given.sla_s} must be > 0 seconds of queue wait")
    if not 0.5 <= given.quantile < 1:
        raise UsageError(f"quantile: {given.quantile} must be in [0.5, 1)")
    s, cv2 = given.service_time.seconds, SDXL_SERVICE_TIME_CV2
    peak = replicas_for_queue_sla(given.rate, s, given.sla_s, given.quantile, cv2)
    trough_rate = given.min_rate if given.min_rate is not None else given.rate * DEFAULT_TROUGH_FRACTION
    minimum = max(1, replicas_for_queue_sla(trough_rate, s, given.sla_s, given.quantile, cv2))
    maximum = max(peak, math.ceil(peak * (1 + given.headroom)))
    hours_peak = peak / given.rate * 1000 / 3600
    hours_floor = s * 1000 / 3600
    price = given.price_per_hour
    return Plan(
        replicas_at_peak=peak,
        min_replicas=min(minimum, maximum),
        max_replicas=maximum,
        utilization_at_peak=given.rate * s / peak,
        attainment_at_peak=1 - wait_exceeds_probability(peak, given.rate, s, given.sla_s, cv2),
        attainment_with_max=1 - wait_exceeds_probability(maximum, given.rate, s, given.sla_s, cv2),
        mean_wait_at_peak_s=mean_wait_s(peak, given.rate, s, cv2),
        gpu_hours_per_1000_at_peak=hours_peak,
        gpu_hours_per_1000_floor=hours_floor,
        dollars_per_1000_at_peak=hours_peak * price if price is not None else None,
        dollars_per_1000_floor=hours_floor * price if price is not None else None,
    )

"""How long a Triton pod being removed may take to finish what it has: ``--exit-timeout-secs`` and
``terminationGracePeriodSeconds``, from the longest request at the configured steps and batch.

At SIGTERM (after the preStop sleep that lets the endpoint leave the load balancers) Triton stops
accepting requests and finishes those it holds, in execution and queued, for at most its exit
timeout; the kubelet kills the container at the grace. Both must cover the worst request a pod can
hold: one that just joined the queue behind a full batch, at the largest resolution and batch the
engines accept, with the configured steps (two full executions), plus the queue SLA (requests waiting
longer than that already miss it, so more queue is not promised).

The step time is an estimate, not a measurement of this cluster: NVIDIA's and Stability's published
SDXL TensorRT fp16 figures at 1024², batch 1 (H100 1471 ms, A100 2742 ms, A10 8160 ms for 30 steps),
scaled by pixels and by batch (linear: SDXL at these sizes saturates the GPU at batch 1), and 25 %
for the text encoders, the VAE and an upscaler. GPUs without a published figure take a slower
neighbour's (L4 from A10 + 20 %, L40S from A100, T4 at 3x A10), so the estimate errs long: a longer
grace only costs time on a pod that is leaving anyway; a short one kills requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.spec import DiffusionServiceSpec

#: Seconds per UNet step at 1024x1024, batch 1, fp16 TensorRT (see the module docstring).
SECONDS_PER_STEP_1024: dict[str, float] = {
    "nvidia-h100-80gb": 1.471 / 30,
    "nvidia-tesla-a100": 2.742 / 30,
    "nvidia-a100-80gb": 2.742 / 30,
    "nvidia-l40s": 2.742 / 30,
    "nvidia-a10g": 8.160 / 30,
    "nvidia-l4": 1.2 * 8.160 / 30,
    "nvidia-tesla-t4": 3 * 8.160 / 30,
}
#: Text encoders, VAE decode and an upscaler on top of the UNet steps.
NON_UNET_OVERHEAD = 1.25
#: A request that just joined the queue waits for the execution ahead of it, then runs its own.
EXECUTIONS_TO_COVER = 2
#: Triton's own default: the estimate is for TensorRT on GPUs; a slower backend (ONNX Runtime on
#: CPU, an image without TensorRT) must never get less time than Triton would give itself.
MIN_EXIT_TIMEOUT_SECONDS = 30
#: Triton's own shutdown after the last request (unloading models; ~7 s measured with a BLS model).
TRITON_SHUTDOWN_SECONDS = 10


@dataclass(frozen=True)
class DrainTimes:
    longest_request_s: float
    exit_timeout_s: int
    grace_s: int


def longest_execution_seconds(spec: DiffusionServiceSpec) -> float:
    """One execution of the largest batch at the largest resolution with the configured steps."""
    per_step = SECONDS_PER_STEP_1024.get(spec.serving.gpu.type, max(SECONDS_PER_STEP_1024.values()))
    pixels = max(r.width * r.height for r in spec.engine.resolutions) / (1024 * 1024)
    return spec.pipeline.steps * per_step * pixels * spec.engine.max_batch_size * NON_UNET_OVERHEAD


def drain_times(spec: DiffusionServiceSpec, *, endpoint_drain_s: int, minimum_grace_s: int) -> DrainTimes:
    """Triton's exit timeout and the pod's grace; the grace never drops below ``minimum_grace_s``
    (the operator's setting) and always covers preStop + exit timeout + Triton's own shutdown."""
    execution = longest_execution_seconds(spec)
    queue = spec.autoscaling.queue_latency_target_s
    delay = parse_duration(spec.serving.max_queue_delay).total_seconds()
    exit_timeout = max(MIN_EXIT_TIMEOUT_SECONDS, math.ceil(EXECUTIONS_TO_COVER * execution + queue + delay))
    grace = max(minimum_grace_s, endpoint_drain_s + exit_timeout + TRITON_SHUTDOWN_SECONDS)
    return DrainTimes(longest_request_s=execution, exit_timeout_s=exit_timeout, grace_s=grace)

"""From a DiffusionService spec to the engine build plan and its content-addressed cache key (pure).

The GPU catalogue lives in ``api.gpus`` (the CRD's GPU enum and fp8 rule are generated from it, and
``api`` is the bottom layer); it is re-exported here because the plan is its main reader.
"""

from diffusion_operator.api.gpus import GPU_CATALOGUE, GpuModel, gpu_model
from diffusion_operator.engines.plan import cache_key_for, plan_for

__all__ = ["GPU_CATALOGUE", "GpuModel", "cache_key_for", "gpu_model", "plan_for"]

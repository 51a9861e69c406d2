"""Sampling for the serving pipelines in plain numpy: torch's seeded CPU noise and diffusers' schedulers.

The serving image runs the SDXL loop (pipeline.py, inpaint.py) over ONNX Runtime or TensorRT
components; torch was there only for the noise, some tensor glue and diffusers' schedulers, and it
weighs 3.5 GiB. This package replaces those, value for value (noise bit for bit on AVX2 CPUs,
schedules to float32 rounding), so dropping torch changes no image. It is copied next to
``pipeline.py`` into every published pipeline model, so it imports only numpy and itself.
"""

from .config import SchedulerConfigError
from .noise import Generators, NoiseSizeError, TorchGenerator, randn_tensor
from .schedulers import Scheduler, from_config

__all__ = ["Generators", "NoiseSizeError", "Scheduler", "SchedulerConfigError", "TorchGenerator", "from_config",
           "randn_tensor"]

"""Triton Python-backend control model ``speed_tier``: the overload speed tier the operator set.

The operator's autoscaler decides the tier (``autoscaling/speed_tier.py``) and sends it to every Triton
pod of the service with one tiny inference request on this model (``steps`` INT32 [1], ``ttl_s`` FP32
[1]); the ``sdxl`` pipeline asks it (a BLS request with no inputs, well under a millisecond) for each
request that did not set its own steps. Why a model and not a ConfigMap: a mounted ConfigMap reaches
the pod a minute or more later (the kubelet's sync period), while a burst needs the tier within one
autoscaler tick; an environment variable would need a restart. Why a TTL: the tier must switch itself
off when the operator stops refreshing it (operator down, metrics failing, service deleted), so a
setting expires after ``ttl_s`` (default 60 s, four autoscaler ticks) and full steps return.
Output ``steps`` INT32 [1]: the tier's steps, 0 while it is off.
"""

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

DEFAULT_TTL_S = 60.0
MAX_TTL_S = 600.0


@dataclass
class TierSetting:
    """The latest setting and when it lapses (monotonic seconds)."""

    steps: int = 0
    expires: float = 0.0

    def set(self, steps: int, ttl_s: float, now: float) -> None:
        self.steps = max(0, int(steps))
        self.expires = now + min(max(float(ttl_s), 0.0), MAX_TTL_S)

    def current(self, now: float) -> int:
        return self.steps if now < self.expires else 0


def optional_scalar(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)[0].item()


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.setting = TierSetting()

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            steps = optional_scalar(request, "steps")
            now = time.monotonic()
            if steps is not None:
                ttl = optional_scalar(request, "ttl_s")
                self.setting.set(steps, DEFAULT_TTL_S if ttl is None else ttl, now)
            value = np.array([self.setting.current(now)], dtype=np.int32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("steps", value)]))
        return responses

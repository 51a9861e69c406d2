"""The build container's resources: the spec's override key by key, else the operator's, else the figures."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.api.quantity import GIB
from diffusion_operator.api.spec_serving import ResourceRequirements
from diffusion_operator.engines.build_memory import BuildMemory
from diffusion_operator.engines.build_resources import build_resources

FIGURES = BuildMemory(request_bytes=16487 * 2**20, limit_bytes=16487 * 2**20,
                      reason="sdxl unetxl fp16 export 14.0 GiB + 15 %")
OPERATOR = {"cpu": "4"}


@pytest.mark.parametrize(("override", "operator", "requests", "limits", "source"), [
    # Nothing set: the figures, limit = request; the operator's CPU, no CPU limit.
    (None, OPERATOR, {"cpu": "4", "memory": "16487Mi"}, {"memory": "16487Mi"},
     "sdxl unetxl fp16 export 14.0 GiB + 15 %"),
    # The spec's memory request wins, and the limit follows it.
    ({"requests": {"memory": "20Gi"}}, OPERATOR, {"cpu": "4", "memory": "20Gi"}, {"memory": "20Gi"},
     "spec.engine.buildResources.requests.memory"),
    # A limit alone: requested at the limit, as Kubernetes defaults it.
    ({"limits": {"memory": "24Gi"}}, OPERATOR, {"cpu": "4", "memory": "24Gi"}, {"memory": "24Gi"},
     "spec.engine.buildResources.limits.memory"),
    # Request below the limit: both as written (Burstable, by choice).
    ({"requests": {"memory": "16Gi"}, "limits": {"memory": "24Gi"}}, OPERATOR,
     {"cpu": "4", "memory": "16Gi"}, {"memory": "24Gi"}, "spec.engine.buildResources.requests.memory"),
    # CPU alone: the memory still comes from the figures.
    ({"requests": {"cpu": "8"}}, OPERATOR, {"cpu": "8", "memory": "16487Mi"}, {"memory": "16487Mi"},
     "sdxl unetxl fp16 export 14.0 GiB + 15 %"),
    # A CPU limit below the operator's request: the request follows the limit, never above it.
    ({"limits": {"cpu": "2"}}, OPERATOR, {"cpu": "2", "memory": "16487Mi"}, {"cpu": "2", "memory": "16487Mi"},
     "sdxl unetxl fp16 export 14.0 GiB + 15 %"),
    # An operator-wide memory replaces the figures (a custom builder image).
    (None, {"cpu": "250m", "memory": "1Gi"}, {"cpu": "250m", "memory": "1Gi"}, {"memory": "1Gi"},
     "the operator's buildRequests.memory"),
    # ...and the spec still wins over it.
    ({"requests": {"memory": "3Gi"}}, {"cpu": "250m", "memory": "1Gi"}, {"cpu": "250m", "memory": "3Gi"},
     {"memory": "3Gi"}, "spec.engine.buildResources.requests.memory"),
])
def test_build_resources(override: dict[str, Any] | None, operator: dict[str, str], requests: dict[str, str],
                         limits: dict[str, str], source: str) -> None:
    spec = ResourceRequirements.model_validate(override) if override is not None else None
    resources = build_resources(spec, FIGURES, operator)
    assert resources.requirements.requests == requests
    assert resources.requirements.limits == limits
    assert resources.memory_source == source


def test_the_memory_request_is_known_in_bytes_for_the_fit_check() -> None:
    assert build_resources(None, FIGURES, OPERATOR).memory_request_bytes == FIGURES.request_bytes
    spec = ResourceRequirements.model_validate({"requests": {"memory": "20Gi"}})
    assert build_resources(spec, FIGURES, OPERATOR).memory_request_bytes == 20 * GIB

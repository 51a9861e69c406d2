"""The build resources a decision carries, as the lifecycle handler computes them (for the reconcile tests)."""

from __future__ import annotations

from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.engines.build_memory import build_memory
from diffusion_operator.engines.build_resources import BuildResources, build_resources
from diffusion_operator.engines.plan import plan_for

OPERATOR_REQUESTS = {"cpu": "4"}


def build_for(spec: DiffusionServiceSpec, backend: str = "tensorrt") -> BuildResources:
    """What the build of ``spec`` asks for with the operator's default requests."""
    plan = plan_for(spec, "10.13.3", backend)  # type: ignore[arg-type]
    return build_resources(spec.engine.build_resources, build_memory(plan), OPERATOR_REQUESTS)

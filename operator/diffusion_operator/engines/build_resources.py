"""What the build Job's container asks for: the spec's ``engine.buildResources``, else the operator's, else the figures.

Memory, per service and build: ``spec.engine.buildResources`` wins; else the operator-wide
``buildRequests.memory`` (chart ``defaults.buildRequests``, unset by default: it is for clusters whose
builds the figures do not describe, e.g. a custom builder image); else ``build_memory`` of the plan.
The memory limit is the spec's limit, else the memory request: memory is not compressible, so an
unbounded build would starve its node instead of being OOMKilled with a clear reason.

CPU and ephemeral storage: the spec's, else the operator's ``buildRequests`` (4 CPUs by default), with
no limit unless the spec sets one (CPU is compressible: a build may use idle cores). A resource the
spec limits but does not request is requested at its limit, as Kubernetes itself defaults it, so
the operator's default request can never exceed a user's limit.

The result is checked against the GPU pool's nodes before the Job exists (``reconcile.build_fit``)
and rendered into the Job as it is (``render.engine_job``): one computation, both readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from diffusion_operator.api.quantity import mebibytes, parse_quantity
from diffusion_operator.api.spec_serving import ResourceRequirements
from diffusion_operator.engines.build_memory import BuildMemory

MEMORY = "memory"
SPEC_FIELD = "spec.engine.buildResources"
OPERATOR_FIELD = "the operator's buildRequests"


@dataclass(frozen=True)
class BuildResources:
    """The build container's requests and limits (no GPU: the renderer adds the one GPU a build uses)."""

    requirements: ResourceRequirements
    memory_request_bytes: int
    #: Where the memory request came from, for messages: the figures' reason or the setting's name.
    memory_source: str

    @property
    def memory_limit(self) -> str:
        """The memory limit as the Job renders it (always set: it defaults to the request)."""
        return str((self.requirements.limits or {})[MEMORY])


def build_resources(override: ResourceRequirements | None, memory: BuildMemory,
                    operator_requests: Mapping[str, str]) -> BuildResources:
    """The build's resources from the spec's ``override``, the operator's requests and the ``memory`` figures."""
    spec_requests = dict((override.requests if override else None) or {})
    spec_limits = dict((override.limits if override else None) or {})
    requests: dict[str, int | str] = {key: value for key, value in operator_requests.items()
                                      if key not in spec_limits}
    requests.update({key: value for key, value in spec_limits.items() if key not in spec_requests})
    requests.update(spec_requests)
    limits: dict[str, int | str] = dict(spec_limits)
    if MEMORY in spec_requests:
        source = f"{SPEC_FIELD}.requests.memory"
    elif MEMORY in spec_limits:
        source = f"{SPEC_FIELD}.limits.memory"
    elif MEMORY in operator_requests:
        source = f"{OPERATOR_FIELD}.memory"
    else:
        requests[MEMORY] = mebibytes(memory.request_bytes)
        limits.setdefault(MEMORY, mebibytes(memory.limit_bytes))
        source = memory.reason
    limits.setdefault(MEMORY, requests[MEMORY])
    return BuildResources(
        requirements=ResourceRequirements(requests=requests, limits=limits),
        memory_request_bytes=int(parse_quantity(requests[MEMORY])),
        memory_source=source,
    )

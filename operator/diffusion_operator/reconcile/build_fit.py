"""Whether a build can run on its GPU pool: its memory request against the nodes' allocatable memory.

Checked before the Job is created, because a pod that asks for more memory than any node has is never
scheduled and says little (``FailedScheduling: Insufficient memory`` on a pod nobody looks at), while
one that asks for too little is OOMKilled an hour into the export. The check compares with what a node
can give pods at all (``allocatable``), not with what is free now: other pods come and go, but no
amount of waiting makes a 29 GiB node hold a 36 GiB build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from diffusion_operator.api.quantity import gib_text, parse_quantity

#: What a person can change, named in the message.
REMEDY = ("set spec.engine.buildResources.requests.memory if the build needs less, or give the pool "
          "nodes with more memory")


@dataclass(frozen=True)
class NodeMemory:
    """One node of the build's GPU pool and the memory it can give pods (``status.allocatable``)."""

    name: str
    allocatable_bytes: int


@dataclass(frozen=True)
class BuildNodes:
    """The nodes the build Job's node selector matches, read only while the Job is still to be created."""

    #: The Job's ``nodeSelector`` (render.engine_job.build_node_selector): the pool, in the messages.
    selector: Mapping[str, str]
    nodes: tuple[NodeMemory, ...]


@dataclass(frozen=True)
class BuildFit:
    fits: bool
    #: Why not, naming both figures; empty when it fits.
    message: str = ""


def node_memory(nodes: list[dict[str, Any]]) -> tuple[NodeMemory, ...]:
    """Each node's allocatable memory; a node that reports none (still registering) is left out."""
    found = []
    for node in nodes:
        allocatable = ((node.get("status") or {}).get("allocatable") or {}).get("memory")
        if allocatable is None:
            continue
        try:
            amount = int(parse_quantity(str(allocatable)))
        except ValueError:
            continue
        found.append(NodeMemory(str((node.get("metadata") or {}).get("name")), amount))
    return tuple(found)


def build_fit(request_bytes: int, request_source: str, pool: BuildNodes | None) -> BuildFit:
    """Whether some node of the pool has ``request_bytes`` of allocatable memory.

    Conservative with missing data, as the HPA is: the build is created (fits) when the nodes were not
    read (the Job exists already, or the operator may not list nodes: a namespaced install) and when
    the pool has no node at all. An autoscaled pool at zero has nodes only once a pod asks for one, so
    refusing to create the Job would keep it at zero forever; the cluster autoscaler then scales up
    only a node group whose machines can hold the pod, and the Job stays pending otherwise
    (``BuildPending``).
    """
    if pool is None or not pool.nodes:
        return BuildFit(True)
    largest = max(pool.nodes, key=lambda node: node.allocatable_bytes)
    if largest.allocatable_bytes >= request_bytes:
        return BuildFit(True)
    selector = ",".join(f"{key}={value}" for key, value in sorted(pool.selector.items()))
    return BuildFit(False, (
        f"the build needs {gib_text(request_bytes)} of memory ({request_source}) but the largest node with "
        f"{selector}, {largest.name}, has {gib_text(largest.allocatable_bytes)} allocatable; no Job was "
        f"created: {REMEDY}"
    ))

"""Which address to send requests to: from ``status.endpoints`` of a DiffusionService, or ``--url``.

``status.endpoints`` holds in-cluster names (``<svc>.<ns>.svc:8000``) that resolve only inside the
cluster. Outside it, ``--resolve HOST:PORT=ADDR:PORT`` (curl's ``--resolve``, as a mapping) points
such a name at a port-forward or a load balancer without editing /etc/hosts; the demo uses it to
reach the CPU Triton that stands in for the service's pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from diffusion_operator.client.errors import NotFoundError, UsageError
from diffusion_operator.client.triton import Endpoint, Protocol


def parse_resolve(values: Sequence[str]) -> dict[str, str]:
    """``["a.ns.svc:8000=127.0.0.1:1234"]`` -> ``{"a.ns.svc:8000": "127.0.0.1:1234"}``."""
    mapping: dict[str, str] = {}
    for value in values:
        source, sep, target = value.partition("=")
        if not sep or ":" not in source or ":" not in target:
            raise UsageError(f"--resolve {value!r}: expected HOST:PORT=ADDR:PORT")
        mapping[source.strip()] = target.strip()
    return mapping


def endpoint_from_status(status: Mapping[str, Any] | None, protocol: Protocol, service: str,
                         resolve: Mapping[str, str] | None = None) -> Endpoint:
    """The ``protocol`` endpoint a DiffusionService publishes, rewritten by ``resolve`` if it matches."""
    endpoints = (status or {}).get("endpoints") or {}
    published = endpoints.get(protocol)
    if not published:
        phase = (status or {}).get("phase") or "Pending"
        raise NotFoundError(f"diffusionservice {service} publishes no {protocol} endpoint yet (phase {phase}); "
                            "it appears once an engine is built and serving")
    endpoint = Endpoint.parse(str(published), protocol)
    mapped = (resolve or {}).get(endpoint.address)
    return Endpoint(mapped, protocol) if mapped else endpoint

"""Identity of the DiffusionService resource and the whole-object model.

Handlers receive a kopf body (a mapping); ``parse_spec`` is the one place that turns it into the
typed spec, so a missing default or a rule the API server did not run fails loudly here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.api.status import DiffusionServiceStatus

GROUP = "diffusion.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "DiffusionService"
PLURAL = "diffusionservices"
SINGULAR = "diffusionservice"
SHORT_NAMES = ("dfs",)  # "ds" is DaemonSet's
CATEGORIES = ("diffusion",)


class ServiceRef(NamedTuple):
    """Which DiffusionService: what every path hands around instead of a raw body.

    Hashable, so the child-event work queue keys on it; ``uid`` tells a re-created object of the
    same name from the one an event was about. The API version and kind are this module's.
    """

    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ServiceRef:
        """The reference of a body (a kopf body, an object read from the API server)."""
        meta = body["metadata"]
        return cls(str(meta["namespace"]), str(meta["name"]), str(meta["uid"]))

    def as_object(self) -> dict[str, Any]:
        """The smallest body that names this object (what Events and owner references need)."""
        return {"apiVersion": API_VERSION, "kind": KIND,
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid}}


class DiffusionService(BaseModel):
    """A whole object as read from the API server (metadata kept as a plain mapping)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: DiffusionServiceSpec
    status: DiffusionServiceStatus = Field(default_factory=DiffusionServiceStatus)

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef.of({"metadata": self.metadata})

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation") or 0)


def parse_spec(spec: Mapping[str, Any]) -> DiffusionServiceSpec:
    """The typed spec of a body's ``spec`` (camelCase, as stored); raises pydantic's ValidationError."""
    return DiffusionServiceSpec.model_validate(dict(spec))


def parse_status(status: Mapping[str, Any] | None) -> DiffusionServiceStatus:
    """The typed status; unknown keys (e.g. kopf's own bookkeeping) are ignored."""
    return DiffusionServiceStatus.model_validate(dict(status or {}))


def status_patch(
    status: DiffusionServiceStatus, previous: DiffusionServiceStatus | None = None
) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) of ``/status`` from ``previous`` to ``status``.

    Without ``previous``: the whole status, camelCase, no nulls. With it: only what changed, and
    ``null`` for what was removed (a finished build's ``completedAt`` when a new one starts). Sending
    only changes matters because two writers share the status: the lifecycle handler must not send
    back the autoscaler's fields as it read them a moment ago, or it would undo a newer decision.
    An empty result means there is nothing to write.
    """
    new = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if previous is None:
        return new
    return merge_patch(previous.model_dump(mode="json", by_alias=True, exclude_none=True), new)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 patch that turns ``old`` into ``new``: objects recurse, everything else replaces."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif key not in old or before != value:
            patch[key] = value
    return patch

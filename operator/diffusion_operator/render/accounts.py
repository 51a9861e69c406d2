"""The engine builder's ServiceAccount, created by the operator in each namespace it builds in.

A Helm chart cannot know every namespace users will create DiffusionServices in, so the operator
renders this identity itself. It gets no RBAC: the builder never talks to the API server, and its
token is not even mounted.
"""

from __future__ import annotations

from typing import Any

from diffusion_operator.render.names import (
    ENGINE_BUILDER,
    ENGINE_BUILDER_SERVICE_ACCOUNT,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
)


def build_builder_service_account(namespace: str, name: str = ENGINE_BUILDER_SERVICE_ACCOUNT) -> dict[str, Any]:
    """The build Job's identity (``RenderSettings.builder_service_account``, the operator's
    DIFFUSION_BUILDER_SERVICE_ACCOUNT), with no token mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {NAME_LABEL: ENGINE_BUILDER, MANAGED_BY_LABEL: MANAGED_BY},
        },
        "automountServiceAccountToken": False,
    }

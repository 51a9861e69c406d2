"""A small Kubernetes client for the test bed and its tests (not used by the operator).

The kubernetes package reads ``KUBECONFIG`` once at import, so every client here is built from an
explicit kubeconfig path: several clusters in one process, no hidden global.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError


class WaitTimeoutError(AssertionError):
    """A wait ran out; the message holds the object as YAML and its recent Events."""


class KubeClient:
    def __init__(self, kubeconfig: Path | str) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.dynamic = DynamicClient(self.api_client)
        self.core = client.CoreV1Api(self.api_client)

    def resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, manifest: dict[str, Any], *, field_manager: str, force: bool = True) -> Any:
        resource = self.resource(manifest["apiVersion"], manifest["kind"])
        return resource.server_side_apply(
            body=manifest,
            name=manifest["metadata"]["name"],
            namespace=manifest["metadata"].get("namespace"),
            field_manager=field_manager,
            force_conflicts=force,
        )

    def create(self, manifest: dict[str, Any]) -> Any:
        resource = self.resource(manifest["apiVersion"], manifest["kind"])
        return resource.create(body=manifest, namespace=manifest["metadata"].get("namespace"))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any | None:
        try:
            return self.resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None, **kw: Any) -> list[Any]:
        return list(self.resource(api_version, kind).get(namespace=namespace, **kw).items)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               propagation: str = "Background") -> None:
        try:
            self.resource(api_version, kind).delete(
                name=name, namespace=namespace, body={"propagationPolicy": propagation}
            )
        except NotFoundError:
            pass

    def events_for(self, namespace: str, name: str | None = None) -> list[str]:
        events = self.core.list_namespaced_event(namespace).items
        lines = []
        for e in sorted(events, key=lambda e: (e.last_timestamp or e.event_time or e.metadata.creation_timestamp)):
            if name is None or e.involved_object.name == name:
                lines.append(f"{e.type} {e.reason} {e.involved_object.kind}/{e.involved_object.name}: {e.message}")
        return lines

    def describe(self, api_version: str, kind: str, name: str, namespace: str | None) -> str:
        """Object YAML plus its Events: what a person would look at when a wait fails."""
        obj = self.get(api_version, kind, name, namespace)
        body = yaml.safe_dump(obj.to_dict(), sort_keys=False) if obj is not None else "(not found)\n"
        events = self.events_for(namespace, name) if namespace else []
        return f"--- {kind}/{name}\n{body}--- events\n" + "\n".join(events[-20:])

    def wait_for(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        predicate: Callable[[Any], bool],
        *,
        timeout: float = 60,
        what: str = "condition",
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.get(api_version, kind, name, namespace)
            if obj is not None and predicate(obj):
                return obj
            time.sleep(0.2)
        raise WaitTimeoutError(
            f"timed out after {timeout:.0f}s waiting for {kind}/{name} {what}\n"
            + self.describe(api_version, kind, name, namespace)
        )

    def wait_gone(self, api_version: str, kind: str, name: str, namespace: str | None,
                  *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(api_version, kind, name, namespace) is None:
                return
            time.sleep(0.2)
        raise WaitTimeoutError(
            f"{kind}/{name} still exists after {timeout:.0f}s\n"
            + self.describe(api_version, kind, name, namespace)
        )


def condition(obj: Any, type_: str) -> str | None:
    """The status ("True"/"False"/"Unknown") of condition ``type_`` on an object, or None."""
    for c in (obj.to_dict().get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None

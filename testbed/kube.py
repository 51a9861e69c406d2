"""A small Kubernetes client for the test bed and its tests (not used by the operator).

The kubernetes package reads ``KUBECONFIG`` once at import, so every client here is built from an
explicit kubeconfig path: several clusters in one process, no hidden global.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
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
        # One discovery cache file per process and client: the library's default is shared host-wide
        # and gets corrupted by concurrent writers.
        cache = Path(tempfile.gettempdir()) / f"testbed-discovery-{os.getpid()}-{id(self)}.json"
        self.dynamic = DynamicClient(self.api_client, cache_file=str(cache))
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

    def items(self, api_version: str, kind: str, namespace: str | None = None, **kw: Any) -> list[Any]:
        """The objects of a kind (``kw`` passes label_selector/field_selector through)."""
        return list(self.resource(api_version, kind).get(namespace=namespace, **kw).items)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               propagation: str = "Background") -> None:
        with contextlib.suppress(NotFoundError):
            self.resource(api_version, kind).delete(
                name=name, namespace=namespace, body={"propagationPolicy": propagation}
            )

    def create_namespace(self, name: str, labels: dict[str, str] | None = None, timeout: float = 30) -> None:
        """Create a namespace and wait for its ``default`` ServiceAccount.

        The ServiceAccount controller creates it a moment after the namespace; until then the
        ServiceAccount admission plugin rejects every Pod, which would make tests flaky.
        """
        self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get("v1", "ServiceAccount", "default", name) is not None:
                return
            time.sleep(0.1)
        raise WaitTimeoutError(f"namespace {name}: no default ServiceAccount after {timeout:.0f}s")

    def events_for(self, namespace: str, name: str | None = None) -> list[str]:
        def when(event: Any) -> dt.datetime:
            stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
            return stamp or dt.datetime.min.replace(tzinfo=dt.UTC)

        lines = []
        for e in sorted(self.core.list_namespaced_event(namespace).items, key=when):
            obj = e.involved_object
            if name is None or obj.name == name:
                lines.append(f"{e.type} {e.reason} {obj.kind}/{obj.name}: {e.message}")
        return lines

    def wait_for_event(self, namespace: str, name: str, matches: Callable[[str], bool], *,
                       timeout: float = 20, what: str = "event") -> list[str]:
        """The object's events once one ``matches`` (a line of :meth:`events_for`).

        The operator posts an Event after the status write that reports the same change, so a test
        that has just seen the status must wait for the Event rather than read the list once.
        """
        deadline = time.monotonic() + timeout
        while True:
            events = self.events_for(namespace, name)
            if any(matches(line) for line in events):
                return events
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"timed out after {timeout:.0f}s waiting for {name}'s {what}\n"
                                       + "\n".join(events[-20:]))
            time.sleep(0.2)

    def dump_pods(self, namespace: str, log_lines: int = 30) -> str:
        """Pods (phase, node, container states), the namespace's Events and each container's log tail:
        what a failed wait on the real node prints, so a dead node or a crashing pod explains itself."""
        lines = [f"=== pods in {namespace}"]
        pods: list[Any] = self.core.list_namespaced_pod(namespace).items
        for pod in pods:
            states = [(s.name, s.ready, s.restart_count, s.state.to_dict())
                      for s in pod.status.container_statuses or []]
            lines.append(f"{pod.metadata.name} {pod.status.phase} on {pod.spec.node_name}: {states}")
        lines.append("=== events")
        lines.extend(self.events_for(namespace)[-40:])
        for pod in pods:
            for container in pod.spec.containers:
                try:
                    log = self.core.read_namespaced_pod_log(pod.metadata.name, namespace, container=container.name,
                                                            tail_lines=log_lines)
                except Exception as err:  # a pod that never started has no log: say so and go on
                    log = f"(no log: {err})"
                lines.append(f"=== log {pod.metadata.name}/{container.name}\n{log}")
        return "\n".join(lines)

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


def service_account_kubeconfig(kube: KubeClient, namespace: str, name: str, path: Path,
                               seconds: int = 3600) -> Path:
    """A kubeconfig that authenticates as a ServiceAccount (a bound token from the TokenRequest API).

    This is how tests run the operator *as* the chart's identity: what its RBAC denies, it is denied.
    """
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
    status = kube.core.create_namespaced_service_account_token(name, namespace, request).status
    assert status is not None, "the TokenRequest API returned no token"
    token = status.token
    ca = kube.api_client.configuration.ssl_ca_cert
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": kube.api_client.configuration.host,
                                                     "certificate-authority": ca}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "testbed", "user": name, "namespace": namespace}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def condition(obj: Any, type_: str) -> str | None:
    """The status ("True"/"False"/"Unknown") of condition ``type_`` on an object, or None."""
    for c in (obj.to_dict().get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None

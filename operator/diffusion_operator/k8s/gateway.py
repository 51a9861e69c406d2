"""Server-side apply, reads and scale writes, with errors turned into typed exceptions.

Every write names its field manager (the names live in ``render.replicas``), so
`kubectl get -o yaml --show-managed-fields` tells who owns what.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ApiException, ConflictError, NotFoundError

#: How long an answer to "is this API served?" (e.g. ServiceMonitor) is trusted.
API_DISCOVERY_TTL_SECONDS = 60.0


class KubeError(RuntimeError):
    """An API call failed; ``status`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeConflictError(KubeError):
    pass


def _wrap(err: Exception, what: str) -> KubeError:
    if isinstance(err, ApiException):
        status = int(getattr(err, "status", 0) or 0)
        body = getattr(err, "body", "") or ""
        cls = KubeConflictError if isinstance(err, ConflictError) else KubeError
        reason, message = _api_status(body if isinstance(body, (str, bytes)) else "")
        return cls(f"{what}: HTTP {status} {message}".strip(), status, reason or str(getattr(err, "reason", "")))
    return KubeError(f"{what}: {err}")


def _api_status(body: str | bytes) -> tuple[str, str]:
    """The API server's answer as people read it: the ``Status`` object's reason and message (e.g.
    Forbidden, 'exceeded quota: gpus, requested: ...'), not its JSON; a body that is not one as it came."""
    try:
        answer = json.loads(body)
    except ValueError:
        return "", body.decode(errors="replace") if isinstance(body, bytes) else body
    if not isinstance(answer, dict) or "message" not in answer:
        return "", json.dumps(answer)
    return str(answer.get("reason") or ""), str(answer["message"])


class KubeGateway:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        # The client's default discovery cache is one file in /tmp shared by every process on the host;
        # concurrent writers corrupt it. A file per process keeps discovery cached and intact.
        cache = Path(tempfile.gettempdir()) / f"diffusion-operator-discovery-{os.getpid()}.json"
        self.dynamic = DynamicClient(api_client, cache_file=str(cache))
        self._served: dict[tuple[str, str], tuple[float, bool]] = {}
        # The dynamic client's discovery is not thread-safe (its lazy cache is a dict filled on demand);
        # handler threads resolve each kind once, under a lock, and keep it.
        self._resources: dict[tuple[str, str], Any] = {}
        self._discovery_lock = threading.Lock()

    def _resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        resource = self._resources.get(key)
        if resource is None:
            with self._discovery_lock:
                resource = self._resources.get(key)
                if resource is None:
                    resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
                    self._resources[key] = resource
        return resource

    def apply(self, manifest: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        """Server-side apply with conflicts forced: the operator is the declared owner of these fields."""
        meta = manifest["metadata"]
        what = f"apply {manifest['kind']} {meta.get('namespace', '')}/{meta['name']}"
        try:
            result = self._resource(manifest["apiVersion"], manifest["kind"]).server_side_apply(
                body=manifest,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=field_manager,
                force_conflicts=True,
            )
        except Exception as err:
            raise _wrap(err, what) from err
        return dict(result.to_dict())

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        try:
            return dict(self._resource(api_version, kind).get(name=name, namespace=namespace).to_dict())
        except NotFoundError:
            return None
        except Exception as err:
            raise _wrap(err, f"get {kind} {namespace}/{name}") from err

    def list_objects(self, api_version: str, kind: str, namespace: str | None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        try:
            found = self._resource(api_version, kind).get(namespace=namespace, label_selector=label_selector)
        except Exception as err:
            raise _wrap(err, f"list {kind} in {namespace}") from err
        return [dict(item.to_dict()) for item in found.items]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None, *,
               uid: str | None = None) -> None:
        """Delete in the background (the garbage collector takes the dependents). With ``uid`` only that
        incarnation: a newer object of the same name makes the API server answer 409."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid is not None:
            body["preconditions"] = {"uid": uid}
        try:
            self._resource(api_version, kind).delete(name=name, namespace=namespace, body=body)
        except NotFoundError:
            return
        except Exception as err:
            raise _wrap(err, f"delete {kind} {namespace}/{name}") from err

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves a kind (e.g. the Prometheus Operator's ServiceMonitor)."""
        key = (api_version, kind)
        cached = self._served.get(key)
        now = time.monotonic()
        if cached and now - cached[0] < API_DISCOVERY_TTL_SECONDS:
            return cached[1]
        # Ask the group-version's discovery document directly: re-running the shared client's discovery
        # from several threads is what breaks it, and a CRD installed later must still be noticed.
        prefix = "/api/" if "/" not in api_version else "/apis/"
        try:
            document = self.dynamic.request("GET", f"{prefix}{api_version}")
            served = any(r.get("kind") == kind for r in document.to_dict().get("resources", []))
        except NotFoundError:
            served = False
        except ApiException as err:
            raise _wrap(err, f"discover {api_version}") from err
        self._served[key] = (now, served)
        return served

    def pods_of(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return self.list_objects("v1", "Pod", namespace, label_selector)

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str,
                     status: dict[str, Any]) -> None:
        """Merge-patch ``/status`` (lists such as conditions are replaced whole, as computed)."""
        try:
            self._resource(api_version, kind).status.patch(
                name=name, namespace=namespace, body={"status": status},
                content_type="application/merge-patch+json",
            )
        except Exception as err:
            raise _wrap(err, f"patch status of {kind} {namespace}/{name}") from err

    def owns_field(self, obj: dict[str, Any], manager: str, path: tuple[str, ...]) -> bool:
        """Whether ``manager`` owns the field at ``path`` (e.g. ("spec", "replicas")) per managedFields."""
        for entry in (obj.get("metadata") or {}).get("managedFields") or []:
            if entry.get("manager") != manager:
                continue
            node = entry.get("fieldsV1") or {}
            for part in path:
                node = node.get(f"f:{part}")
                if node is None:
                    break
            else:
                return True
        return False

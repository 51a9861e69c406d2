"""The Kubernetes edge of the client: read DiffusionServices with the user's kubeconfig.

The kubernetes package reads ``KUBECONFIG`` once at import, so the file is resolved here, explicitly,
on every call (tests point several commands at several clusters in one process). Retries are off: a
down API server should be reported in seconds, as one line (exit 3), not after urllib3's backoff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from diffusion_operator.api import GROUP, PLURAL, VERSION
from diffusion_operator.client.errors import EndpointUnreachableError, NotFoundError

REQUEST_TIMEOUT_S = 10


def kubeconfig_path(explicit: str | None = None) -> str:
    """``--kubeconfig``, else the first file of ``KUBECONFIG``, else ``~/.kube/config``."""
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG", "")
    first = next((part for part in env.split(os.pathsep) if part), None)
    return first or str(Path.home() / ".kube" / "config")


class Cluster:
    """Read-only access to DiffusionServices through one kubeconfig."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        self.path = kubeconfig_path(kubeconfig)
        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=self.path,  # type: ignore[no-untyped-call]
                                    client_configuration=configuration)
            _, active = config.list_kube_config_contexts(config_file=self.path)  # type: ignore[no-untyped-call]
        except Exception as err:  # missing file, bad YAML, no current context: all "no cluster"
            raise EndpointUnreachableError(f"kubeconfig {self.path}: {' '.join(str(err).split())[:200]}") from err
        configuration.retries = 0
        self.default_namespace = str((active or {}).get("context", {}).get("namespace") or "default")
        self.api = client.CustomObjectsApi(client.ApiClient(configuration))
        self.server = configuration.host

    def get(self, name: str, namespace: str) -> dict[str, Any]:
        """One DiffusionService as a dict; ``NotFoundError`` names what is missing."""
        try:
            obj = self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                        _request_timeout=REQUEST_TIMEOUT_S)
        except Exception as err:
            raise self._translate(err, f"diffusionservice {namespace}/{name}") from err
        return cast(dict[str, Any], obj)

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        """DiffusionServices in ``namespace`` (``None``: all namespaces), sorted by namespace and name."""
        try:
            if namespace is None:
                raw = self.api.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=REQUEST_TIMEOUT_S)
            else:
                raw = self.api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                             _request_timeout=REQUEST_TIMEOUT_S)
        except Exception as err:
            raise self._translate(err, "diffusionservices") from err
        items = [cast(dict[str, Any], item) for item in cast(dict[str, Any], raw).get("items", [])]
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def _translate(self, err: Exception, what: str) -> Exception:
        if isinstance(err, ApiException):
            if err.status == 404:
                body = str(err.body or "")
                if "the server could not find the requested resource" in body:
                    return NotFoundError(f"the cluster at {self.server} has no DiffusionService API "
                                         "(is the diffusion-operator CRD installed?)")
                return NotFoundError(f"{what} not found")
            if err.status in (401, 403):
                return EndpointUnreachableError(f"{what}: access denied by {self.server} ({err.status} {err.reason})")
            return EndpointUnreachableError(f"{what}: the API server answered {err.status} {err.reason}")
        return EndpointUnreachableError(f"cannot reach the API server at {self.server}: "
                                        f"{' '.join(str(err).split())[:200]}")

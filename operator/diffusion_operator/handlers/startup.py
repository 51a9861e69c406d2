"""All kopf settings in one place, each with the reason it is set."""

from __future__ import annotations

import logging
import os
from typing import Any

import aiohttp
import kopf
from kubernetes import client, config

from diffusion_operator.handlers import lifecycle
from diffusion_operator.handlers.runtime import CONFIG, Runtime
from diffusion_operator.handlers.workqueue import DirtyQueue
from diffusion_operator.k8s.gateway import KubeGateway
from diffusion_operator.render.replicas import OPERATOR_FIELD_MANAGER


def api_client() -> client.ApiClient:
    """In-cluster credentials when running as a pod, else the kubeconfig named by KUBECONFIG."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
        return client.ApiClient()
    return config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))


#: Reconciles of dirty owners in parallel (threads: the Kubernetes client is synchronous).
CHILD_EVENT_WORKERS = 8


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our status is ours: keep kopf's bookkeeping in annotations, not in .status, so the CRD's
    # status schema stays exactly what users see.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="diffusion.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="diffusion.dev", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "diffusion.dev/operator"
    # Reconnect well before any proxy/LB idle timeout; an apiserver restart is survived by
    # re-listing, and a bounded watch means we notice a silently dead connection within minutes.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # Our handlers are idempotent reconciles: retry failures with backoff rather than giving up.
    settings.execution.max_workers = 16
    settings.posting.level = logging.INFO
    # Peering name, scope and priority come from `diffusion-operator run` (kopf.run).
    # How long a silent peer counts as alive: the standby's takeover time after the active one dies.
    settings.peering.lifetime = int(os.environ.get("DIFFUSION_PEERING_LIFETIME", "60"))

    operator_config = CONFIG
    # One HTTP session for every autoscaler tick of every service (connections are pooled and kept).
    runtime = Runtime(gateway=KubeGateway(api_client()), config=operator_config, prometheus=aiohttp.ClientSession())
    memo.runtime = runtime
    # Child events mark owners dirty; these workers reconcile each dirty owner once (see workqueue.py).
    memo.dirty = DirtyQueue(lambda key: lifecycle.reconcile_owner(runtime, key), workers=CHILD_EVENT_WORKERS)
    logging.getLogger(__name__).info(
        "operator configured", extra={"field_manager": OPERATOR_FIELD_MANAGER, "config": operator_config.model_dump()}
    )


@kopf.on.cleanup()
async def stop_workers(memo: kopf.Memo, **_: Any) -> None:
    if getattr(memo, "dirty", None) is not None:
        await memo.dirty.stop()
    runtime = getattr(memo, "runtime", None)
    if runtime is not None and runtime.prometheus is not None:
        await runtime.prometheus.close()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The same credentials and address as the gateway: in-cluster token or the kubeconfig's client cert.

    In a pod the API server is ``KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT``, as client-go and
    the kubernetes package find it. kopf's own service-account login dials
    ``https://kubernetes.default.svc`` instead, which needs cluster DNS; a cluster without it (or a
    pod with a custom ``dnsPolicy``) would never log in. ``login_via_client`` takes the address, CA
    and token from the kubernetes package's in-cluster loader, the one ``api_client`` uses.
    """
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return kopf.login_via_client(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


def scope_settings(namespaces: list[str]) -> kopf.OperatorSettings:
    """The settings kopf needs before it starts, when it decides what to watch (``kopf.run(settings=)``).

    Watching named namespaces, the chart grants no cluster-wide list of CRDs or namespaces (least
    privilege), and kopf's scanner would retry those forbidden lists for about a minute at every
    start before it served the named namespaces: a minute in which a new service gets no Job.
    Without the scanner kopf serves exactly the named namespaces and the resources discovery found
    at start, which is what a namespaced install means. Cluster-wide, the scanner stays on: it
    follows namespaces as they come and go.
    """
    settings = kopf.OperatorSettings()
    settings.scanning.disabled = bool(namespaces)
    return settings

"""The NetworkPolicy in front of a service's Triton pods (``spec.serving.networkPolicy``, and ``spec.api``).

One ingress rule per port group: the inference ports (HTTP, gRPC) admit ``allowedClients``, the
metrics port admits ``metricsScrapers`` or, when unset, every pod in the operator's configured
Prometheus namespace. A group whose peer list is empty gets *no* rule: in a NetworkPolicy, a rule
with an empty ``from`` admits every source, the opposite of what an empty list means here. With
no rule at all the policy still selects the pods, so all ingress to them is denied.

With the API on (``spec.api.enabled``) the policy is rendered whatever ``networkPolicy.enabled``
says: keys mean nothing if Triton's own ports stay open beside the activator, so Triton then admits
only the activator's pods (inference ports), the operator (the speed tier it sends to each pod's
HTTP port) and the scrapers (metrics). ``allowedClients`` then govern who reaches the activator,
through its own policy, only while ``networkPolicy.enabled``.

Egress is left alone (``policyTypes: [Ingress]``): Triton pods need no egress today, but a default
deny there belongs to the platform's namespace policy, not to one service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diffusion_operator.api.spec_network_policy import LabelSelector, NetworkPolicyPeer, NetworkPolicySpec
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import GRPC_PORT, HTTP_PORT, METRICS_PORT
from diffusion_operator.render.names import (
    activator_labels,
    activator_name,
    activator_selector_labels,
    network_policy_name,
    selector_labels,
    serving_labels,
)

API_VERSION = "networking.k8s.io/v1"
#: The label the API server sets on every namespace (since 1.22): selects a namespace by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _selector(selector: LabelSelector) -> dict[str, Any]:
    return selector.model_dump(mode="json", by_alias=True, exclude_none=True)


def _peer(peer: NetworkPolicyPeer) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if peer.pod_selector is not None:
        rendered["podSelector"] = _selector(peer.pod_selector)
    if peer.namespace_selector is not None:
        rendered["namespaceSelector"] = _selector(peer.namespace_selector)
    return rendered


def _ports(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def scraper_peers(policy: NetworkPolicySpec, settings: RenderSettings) -> list[dict[str, Any]]:
    """The peers allowed to scrape metrics: the spec's list, or the configured Prometheus namespace."""
    if policy.metrics_scrapers is not None:
        return [_peer(peer) for peer in policy.metrics_scrapers]
    return [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: settings.metrics_scraper_namespace}}}]


def _rules(clients: Sequence[dict[str, Any]], scrapers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rules = []
    if clients:
        rules.append({"from": list(clients), "ports": _ports(HTTP_PORT, GRPC_PORT)})
    if scrapers:
        rules.append({"from": list(scrapers), "ports": _ports(METRICS_PORT)})
    return rules


def build_network_policy(
    name: str, namespace: str, policy: NetworkPolicySpec, settings: RenderSettings, *, via_activator: bool = False,
    speed_tier: bool = False, api: bool = False,
) -> dict[str, Any] | None:
    """The NetworkPolicy for service ``name``; None when neither the spec nor the API asks for one (delete it).

    ``via_activator``: clients reach Triton only through the activator (scale to zero), so the
    inference ports admit the activator's pods; ``allowedClients`` apply to the activator instead
    (``build_activator_network_policy``). ``speed_tier``: the operator sends the tier to each pod's
    HTTP port, so its namespace is admitted there (or the tier would silently never arrive). ``api``:
    the API is on, so the policy exists even when ``policy.enabled`` is false (``via_activator`` is
    then true as well: ``render.activator.fronted_by_activator``).
    """
    if not (policy.enabled or api):
        return None
    clients = ([{"podSelector": {"matchLabels": activator_selector_labels(name)}}] if via_activator
               else [_peer(peer) for peer in policy.allowed_clients])
    rules = _rules(clients, scraper_peers(policy, settings))
    if speed_tier and settings.operator_namespace is not None:
        operator = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: settings.operator_namespace}}}
        rules.append({"from": [operator], "ports": _ports(HTTP_PORT)})
    return _policy(network_policy_name(name), namespace, serving_labels(name), selector_labels(name), rules)


def build_activator_network_policy(
    name: str, namespace: str, policy: NetworkPolicySpec, settings: RenderSettings
) -> dict[str, Any] | None:
    """client -> activator: ``allowedClients`` on the inference ports, the scrapers on its metrics."""
    if not policy.enabled:
        return None
    clients = [_peer(peer) for peer in policy.allowed_clients]
    return _policy(activator_name(name), namespace, activator_labels(name), activator_selector_labels(name),
                   _rules(clients, scraper_peers(policy, settings)))


def _policy(name: str, namespace: str, labels: dict[str, str], pods: dict[str, str],
            ingress: list[dict[str, Any]]) -> dict[str, Any]:
    """An ingress-only policy for the pods matching ``pods``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"podSelector": {"matchLabels": pods}, "policyTypes": ["Ingress"], "ingress": ingress},
    }

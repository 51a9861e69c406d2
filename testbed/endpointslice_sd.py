"""Kubernetes service discovery (role ``endpointslice``) done outside Prometheus, for one built without it.

Debian's ``prometheus`` package (2.42, the one the test bed runs) is built without the Kubernetes
discovery plugin (``kubernetes_sd_configs`` is an unknown field there). So where that plugin is
missing, ``testbed.servicemonitors`` lists the EndpointSlices, Services and Pods itself and hands
Prometheus the same targets with the same ``__meta_kubernetes_*`` labels through ``file_sd``; the
scrape jobs keep the Prometheus Operator's relabelling unchanged, so what Prometheus keeps and how it
labels it is decided exactly as with the plugin.

The labels follow Prometheus' ``discovery/kubernetes/endpointslice.go``: per slice the namespace, the
slice's name and address type and its Service's name, labels and annotations; per endpoint address
and port the port's name, number, protocol and appProtocol, the endpoint's conditions, hostname,
node and target reference; and where the target is a Pod, the Pod's name, IP, labels, annotations,
phase, readiness, node, host IP, uid, controller and the container that exposes the port. Not done:
the extra targets the plugin adds for a Pod's container ports that no slice lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from testbed.kube import KubeClient

META = "__meta_kubernetes_"


def sanitize(key: str) -> str:
    """A Kubernetes label key as Prometheus names it in meta and target labels (``.``/``/``/``-`` -> ``_``)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _present(prefix: str, what: str, values: dict[str, str] | None) -> dict[str, str]:
    """``<prefix>_<what>_<key>`` and ``<prefix>_<what>present_<key>`` for each label or annotation."""
    out: dict[str, str] = {}
    for key, value in (values or {}).items():
        name = sanitize(key)
        out[f"{META}{prefix}_{what}_{name}"] = str(value)
        out[f"{META}{prefix}_{what}present_{name}"] = "true"
    return out


def _bool(value: Any) -> str:
    return "true" if value else "false"


def pod_labels(pod: dict[str, Any]) -> dict[str, str]:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    labels = {
        f"{META}pod_name": meta["name"],
        f"{META}pod_ip": status.get("podIP") or "",
        f"{META}pod_ready": _bool(any(c.get("type") == "Ready" and c.get("status") == "True"
                                      for c in status.get("conditions") or [])),
        f"{META}pod_phase": status.get("phase") or "",
        f"{META}pod_node_name": spec.get("nodeName") or "",
        f"{META}pod_host_ip": status.get("hostIP") or "",
        f"{META}pod_uid": meta.get("uid") or "",
        **_present("pod", "label", meta.get("labels")),
        **_present("pod", "annotation", meta.get("annotations")),
    }
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None:
        labels[f"{META}pod_controller_kind"] = owner["kind"]
        labels[f"{META}pod_controller_name"] = owner["name"]
    return labels


def container_labels(pod: dict[str, Any], port: dict[str, Any]) -> dict[str, str]:
    """The container that exposes the slice's port (by number), as the plugin finds it."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for exposed in container.get("ports") or []:
            if exposed.get("containerPort") == port.get("port"):
                return {f"{META}pod_container_name": container["name"],
                        f"{META}pod_container_image": container.get("image") or "",
                        f"{META}pod_container_port_name": exposed.get("name") or "",
                        f"{META}pod_container_port_number": str(exposed["containerPort"]),
                        f"{META}pod_container_port_protocol": exposed.get("protocol") or "TCP",
                        f"{META}pod_container_init": "false"}
    return {}


def slice_target_groups(endpoint_slice: dict[str, Any], service: dict[str, Any] | None,
                        pods: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One file_sd target group per (address, port) of one EndpointSlice (its labels differ per target)."""
    meta = endpoint_slice["metadata"]
    common = {
        f"{META}namespace": meta["namespace"],
        f"{META}endpointslice_name": meta["name"],
        f"{META}endpointslice_address_type": endpoint_slice.get("addressType") or "",
        **_present("endpointslice", "label", meta.get("labels")),
        **_present("endpointslice", "annotation", meta.get("annotations")),
    }
    if service is not None:
        common[f"{META}service_name"] = service["metadata"]["name"]
        common.update(_present("service", "label", service["metadata"].get("labels")))
        common.update(_present("service", "annotation", service["metadata"].get("annotations")))
    groups = []
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        ref = endpoint.get("targetRef") or {}
        pod = pods.get(ref.get("name", "")) if ref.get("kind") == "Pod" else None
        for address in endpoint.get("addresses") or []:
            for port in endpoint_slice.get("ports") or []:
                labels = {
                    **common,
                    f"{META}endpointslice_port_name": port.get("name") or "",
                    f"{META}endpointslice_port": str(port.get("port") or ""),
                    f"{META}endpointslice_port_protocol": port.get("protocol") or "TCP",
                    f"{META}endpointslice_endpoint_conditions_ready": _bool(conditions.get("ready")),
                    f"{META}endpointslice_endpoint_conditions_serving": _bool(conditions.get("serving")),
                    f"{META}endpointslice_endpoint_conditions_terminating": _bool(conditions.get("terminating")),
                }
                if port.get("appProtocol"):
                    labels[f"{META}endpointslice_port_app_protocol"] = port["appProtocol"]
                if endpoint.get("hostname"):
                    labels[f"{META}endpointslice_endpoint_hostname"] = endpoint["hostname"]
                if endpoint.get("nodeName"):
                    labels[f"{META}endpointslice_endpoint_node_name"] = endpoint["nodeName"]
                if ref:
                    labels[f"{META}endpointslice_address_target_kind"] = ref.get("kind") or ""
                    labels[f"{META}endpointslice_address_target_name"] = ref.get("name") or ""
                if pod is not None:
                    labels.update(pod_labels(pod))
                    labels.update(container_labels(pod, port))
                groups.append({"targets": [f"{address}:{port.get('port')}"], "labels": labels})
    return groups


def target_groups(kube: KubeClient, namespaces: Sequence[str] | None) -> list[dict[str, Any]]:
    """Every target the plugin would discover in ``namespaces`` (None: all), as file_sd groups."""
    groups: list[dict[str, Any]] = []
    for namespace in namespaces if namespaces is not None else [None]:
        slices = [s.to_dict() for s in kube.items("discovery.k8s.io/v1", "EndpointSlice", namespace)]
        services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s
                    for s in (x.to_dict() for x in kube.items("v1", "Service", namespace))}
        pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p
                for p in (x.to_dict() for x in kube.items("v1", "Pod", namespace))}
        for endpoint_slice in sorted(slices, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
            ns = endpoint_slice["metadata"]["namespace"]
            service = services.get((ns, (endpoint_slice["metadata"].get("labels") or {}).get(
                "kubernetes.io/service-name", "")))
            local = {name: pod for (pod_ns, name), pod in pods.items() if pod_ns == ns}
            groups.extend(slice_target_groups(endpoint_slice, service, local))
    return groups

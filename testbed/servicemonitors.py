"""ServiceMonitors -> Prometheus scrape jobs, as the Prometheus Operator writes them (for the test bed).

The test bed runs no Prometheus Operator. This module plays its part for one Prometheus: it lists the
ServiceMonitors, turns each endpoint into a ``kubernetes_sd_configs`` job (role ``endpointslice``)
against the test bed's API server, with the relabelling the Prometheus Operator generates (keep by
the monitor's Service selector and port name; target labels ``namespace``, ``service``, ``pod``,
``container``, ``job``, ``endpoint`` and each ``podTargetLabels``/``targetLabels`` entry sanitised,
``diffusion.dev/service`` -> ``diffusion_dev_service``), writes the config and reloads Prometheus
(SIGHUP) when it changed. The operator's queries select on exactly those labels
(diffusion_operator/metrics/promql.py), so what it reads is what a cluster with the Prometheus
Operator would give it.

Why a process (``python -m testbed.servicemonitors``, started by the demo as ``demo-servicemonitors``)
and not a timer inside the demo: it has to keep following after ``testbed demo --keep`` has
returned (apply a second service and Prometheus finds its pods), as the Prometheus Operator is a
controller of its own; ``testbed down`` stops it with the other ``demo-*`` processes.

Discovery: where Prometheus has its Kubernetes plugin, each job gets ``kubernetes_sd_configs`` (role
``endpointslice``, ``api_server`` the test bed's, its CA and admin client certificate) and Prometheus
discovers by itself. Debian's package (the test bed's) is built without that plugin, so there the
jobs get ``file_sd_configs`` instead and this process does the discovery (testbed/endpointslice_sd.py:
the same targets with the same ``__meta_kubernetes_*`` labels), writing one target file per job.
The relabelling is the same in both, so it is Prometheus that keeps, drops and labels.

Why a list every second and not a watch: level-based. Each pass rebuilds the whole config from the
whole list, so a missed event, an API server restart or a CRD installed later cost at most one
pass, and the list is one small request on loopback.

Translated: ``selector`` (matchLabels, matchExpressions), ``namespaceSelector`` (any, matchNames;
default the monitor's namespace), ``endpoints[]`` (port, targetPort, path, scheme, interval,
scrapeTimeout, honorLabels, params, relabelings, metricRelabelings), ``podTargetLabels``,
``targetLabels``, ``jobLabel``. Not translated (ignored): TLS/auth to targets, sampleLimit and the
other limits, attachMetadata, and the Prometheus resource's own selectors (every monitor in the
watched namespaces is taken, like ``serviceMonitorSelector: {}``).
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testbed.endpointslice_sd import sanitize, target_groups
from testbed.kube import KubeClient
from testbed.prometheus import Prometheus, supports_kubernetes_sd, write_target_groups

GROUP, VERSION, PLURAL = "monitoring.coreos.com", "v1", "servicemonitors"
#: The CRD as the Prometheus Operator names it. Its published schema is not available offline, so
#: this one is structural and keeps every field (``x-kubernetes-preserve-unknown-fields``): the API
#: server stores what the operator renders, and this module reads the fields it knows.
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "servicemonitor", "kind": "ServiceMonitor",
                  "listKind": "ServiceMonitorList", "shortNames": ["smon"]},
        "versions": [{"name": VERSION, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            "x-kubernetes-preserve-unknown-fields": True,
        }}}],
    },
}
#: The Prometheus Operator's defaults where an endpoint leaves them unset (its Prometheus resource's
#: scrapeInterval default, and Prometheus' own scrape timeout capped at the interval).
DEFAULT_INTERVAL = "30s"
DEFAULT_TIMEOUT_S = 10.0
#: Relabel-rule keys of the CRD (camelCase) and of Prometheus' config (snake_case).
_RELABEL_KEYS = {"sourceLabels": "source_labels", "separator": "separator", "targetLabel": "target_label",
                 "regex": "regex", "modulus": "modulus", "replacement": "replacement", "action": "action"}
_RE2_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\])")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
log = logging.getLogger("testbed.servicemonitors")


class Discovery(Protocol):
    """Where a job's targets come from: the job's ``*_sd_configs`` entry for ``namespaces`` (None: all)."""

    def sd_configs(self, job_name: str, namespaces: Sequence[str] | None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ApiServer:
    """Prometheus' own Kubernetes discovery against the test bed's API server (admin client cert)."""

    url: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    def sd_configs(self, job_name: str, namespaces: Sequence[str] | None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "role": "endpointslice",
            "api_server": self.url,
            "tls_config": {"ca_file": str(self.ca_file), "cert_file": str(self.cert_file),
                           "key_file": str(self.key_file)},
        }
        if namespaces is not None:
            config["namespaces"] = {"names": sorted(namespaces)}
        return {"kubernetes_sd_configs": [config]}


@dataclass(frozen=True)
class TargetFiles:
    """Discovery done by this module (endpointslice_sd.py) into one file_sd file per job."""

    directory: Path

    def path(self, job_name: str) -> Path:
        return self.directory / f"{sanitize(job_name)}.json"

    def sd_configs(self, job_name: str, namespaces: Sequence[str] | None) -> dict[str, Any]:
        return {"file_sd_configs": [{"files": [str(self.path(job_name))], "refresh_interval": "1s"}]}


def _escape(value: str) -> str:
    return _RE2_SPECIAL.sub(r"\\\1", value)


def seconds(duration: str) -> float:
    """A Prometheus duration (``15s``, ``1m30s``, ``500ms``) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def _selector_rules(selector: dict[str, Any]) -> list[dict[str, Any]]:
    """Keep only endpoints of Services the selector matches (what the Prometheus Operator generates)."""
    rules: list[dict[str, Any]] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        s = sanitize(key)
        rules.append({"source_labels": [f"__meta_kubernetes_service_label_{s}",
                                        f"__meta_kubernetes_service_labelpresent_{s}"],
                      "regex": f"({_escape(str(value))});true", "action": "keep"})
    for expression in selector.get("matchExpressions") or []:
        s, operator = sanitize(expression["key"]), expression["operator"]
        values = "|".join(_escape(str(v)) for v in expression.get("values") or [])
        if operator in ("In", "NotIn"):
            rules.append({"source_labels": [f"__meta_kubernetes_service_label_{s}",
                                            f"__meta_kubernetes_service_labelpresent_{s}"],
                          "regex": f"({values});true", "action": "keep" if operator == "In" else "drop"})
        elif operator in ("Exists", "DoesNotExist"):
            rules.append({"source_labels": [f"__meta_kubernetes_service_labelpresent_{s}"], "regex": "true",
                          "action": "keep" if operator == "Exists" else "drop"})
        else:
            raise ValueError(f"selector operator {operator!r}")
    return rules


def _port_rules(endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    if endpoint.get("port"):
        return [{"source_labels": ["__meta_kubernetes_endpointslice_port_name"],
                 "regex": _escape(str(endpoint["port"])), "action": "keep"}]
    target = endpoint.get("targetPort")
    if target is None:
        return []
    source = "number" if isinstance(target, int) or str(target).isdigit() else "name"
    return [{"source_labels": [f"__meta_kubernetes_pod_container_port_{source}"],
             "regex": _escape(str(target)), "action": "keep"}]


def _copy_labels(meta_prefix: str, keys: Iterable[str]) -> list[dict[str, Any]]:
    return [{"source_labels": [f"{meta_prefix}{sanitize(key)}"], "target_label": sanitize(key),
             "regex": "(.+)", "replacement": "${1}"} for key in keys]


def relabel_rules(rules: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CRD's RelabelConfig (camelCase) as Prometheus' relabel_config."""
    return [{_RELABEL_KEYS[k]: v for k, v in rule.items() if k in _RELABEL_KEYS} for rule in rules]


def job_name(monitor: dict[str, Any], index: int) -> str:
    return f"serviceMonitor/{monitor['metadata']['namespace']}/{monitor['metadata']['name']}/{index}"


def monitor_namespaces(monitor: dict[str, Any]) -> list[str] | None:
    """The namespaces a monitor selects Services in (None: all): its own unless namespaceSelector says."""
    selector = (monitor.get("spec") or {}).get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    return list(selector.get("matchNames") or [monitor["metadata"]["namespace"]])


def scrape_job(monitor: dict[str, Any], index: int, discovery: Discovery) -> dict[str, Any]:
    """The scrape job for endpoint ``index`` of one ServiceMonitor."""
    spec = monitor.get("spec") or {}
    endpoint = spec["endpoints"][index]
    port = str(endpoint.get("port") or endpoint.get("targetPort") or "")
    name = job_name(monitor, index)
    interval = str(endpoint.get("interval") or DEFAULT_INTERVAL)
    timeout = endpoint.get("scrapeTimeout") or f"{int(min(seconds(interval), DEFAULT_TIMEOUT_S) * 1000)}ms"
    target = ["__meta_kubernetes_endpointslice_address_target_kind",
              "__meta_kubernetes_endpointslice_address_target_name"]
    relabel = [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        *_selector_rules(spec.get("selector") or {}),
        *_port_rules(endpoint),
        {"source_labels": target, "separator": ";", "regex": "Node;(.*)", "replacement": "${1}",
         "target_label": "node"},
        {"source_labels": target, "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}",
         "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)", "action": "drop"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        *_copy_labels("__meta_kubernetes_service_label_", spec.get("targetLabels") or []),
        *_copy_labels("__meta_kubernetes_pod_label_", spec.get("podTargetLabels") or []),
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
        *([{"source_labels": [f"__meta_kubernetes_service_label_{sanitize(spec['jobLabel'])}"],
            "target_label": "job", "regex": "(.+)", "replacement": "${1}"}] if spec.get("jobLabel") else []),
        {"target_label": "endpoint", "replacement": port},
        *relabel_rules(endpoint.get("relabelings") or []),
    ]
    job: dict[str, Any] = {
        "job_name": name,
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        **discovery.sd_configs(name, monitor_namespaces(monitor)),
        "scrape_interval": interval,
        "scrape_timeout": timeout,
        "metrics_path": str(endpoint.get("path") or "/metrics"),
        "scheme": str(endpoint.get("scheme") or "http"),
        "relabel_configs": relabel,
    }
    if endpoint.get("params"):
        job["params"] = endpoint["params"]
    if endpoint.get("metricRelabelings"):
        job["metric_relabel_configs"] = relabel_rules(endpoint["metricRelabelings"])
    return job


def scrape_configs(monitors: Iterable[dict[str, Any]], discovery: Discovery) -> list[dict[str, Any]]:
    """Every endpoint of every monitor, in a stable order (so an unchanged list means no reload)."""
    jobs = [scrape_job(monitor, index, discovery) for monitor in monitors
            for index in range(len((monitor.get("spec") or {}).get("endpoints") or []))]
    return sorted(jobs, key=lambda job: str(job["job_name"]))


class Translator:
    """Keeps one Prometheus' scrape jobs equal to the translation of the ServiceMonitors it watches
    (and, with :class:`TargetFiles`, its target files equal to what Kubernetes discovery would find)."""

    def __init__(self, kube: KubeClient, discovery: Discovery, prometheus: Prometheus,
                 namespaces: Sequence[str] | None = None) -> None:
        self.kube = kube
        self.custom = client.CustomObjectsApi(kube.api_client)
        self.discovery, self.prometheus, self.namespaces = discovery, prometheus, namespaces
        self.current: list[dict[str, Any]] | None = None
        self.targets: dict[Path, list[dict[str, Any]]] = {}

    def monitors(self) -> list[dict[str, Any]]:
        """The ServiceMonitors in the watched namespaces; none while their CRD does not exist."""
        try:
            if self.namespaces is None:
                found: Any = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
                return list(found["items"])
            items: list[dict[str, Any]] = []
            for namespace in self.namespaces:
                found = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
                items.extend(found["items"])
            return items
        except ApiException as err:
            if err.status == 404:
                return []
            raise

    def sync(self) -> bool:
        """One pass; True when the config changed and Prometheus was told to reload."""
        monitors = self.monitors()
        jobs: list[dict[str, Any]] = []
        selected: dict[str, list[str] | None] = {}
        for monitor in monitors:
            try:
                jobs.extend(scrape_configs([monitor], self.discovery))
            except (KeyError, ValueError) as err:  # one malformed monitor must not hide the others
                meta = monitor.get("metadata", {})
                log.warning("skipping ServiceMonitor %s/%s: %s", meta.get("namespace"), meta.get("name"), err)
                continue
            for index in range(len(monitor["spec"]["endpoints"])):
                selected[job_name(monitor, index)] = monitor_namespaces(monitor)
        jobs.sort(key=lambda job: str(job["job_name"]))
        if isinstance(self.discovery, TargetFiles):
            self._write_targets(self.discovery, selected)  # before the reload: a new job finds its file
        if jobs == self.current:
            return False
        self.prometheus.reload(jobs)
        self.current = jobs
        log.info("%d scrape jobs from %d ServiceMonitors: %s", len(jobs), len(monitors),
                 ", ".join(str(j["job_name"]) for j in jobs) or "-")
        return True

    def _write_targets(self, files: TargetFiles, selected: dict[str, list[str] | None]) -> None:
        found: dict[tuple[str, ...] | None, list[dict[str, Any]]] = {}
        wanted: dict[Path, list[dict[str, Any]]] = {}
        for name, namespaces in selected.items():
            key = None if namespaces is None else tuple(sorted(namespaces))
            if key not in found:
                found[key] = target_groups(self.kube, namespaces)
            wanted[files.path(name)] = found[key]
        for path, groups in wanted.items():
            if self.targets.get(path) != groups:
                write_target_groups(path, groups)
        for path in set(self.targets) - set(wanted):
            path.unlink(missing_ok=True)
        self.targets = wanted

    def run(self, interval: float = 1.0) -> None:
        while True:
            try:
                self.sync()
            except Exception:  # a test-bed helper must outlive an API server restart
                log.exception("ServiceMonitor sync failed; retrying")
            time.sleep(interval)


def discovery_for(api: ApiServer, targets_dir: Path) -> Discovery:
    """Prometheus' own Kubernetes discovery where it has the plugin, else this module's target files."""
    return api if supports_kubernetes_sd() else TargetFiles(targets_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.servicemonitors", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--api-server", required=True, help="URL Prometheus discovers targets at")
    parser.add_argument("--ca-file", required=True, type=Path)
    parser.add_argument("--cert-file", required=True, type=Path)
    parser.add_argument("--key-file", required=True, type=Path)
    parser.add_argument("--state-dir", required=True, type=Path, help="where the Prometheus process is recorded")
    parser.add_argument("--prometheus", required=True, help="its ManagedProcess name (config and pid file)")
    parser.add_argument("--namespace", action="append", help="watch only these namespaces (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prometheus = Prometheus(args.state_dir, name=args.prometheus, port=1)  # port unused: reload only
    api = ApiServer(args.api_server, args.ca_file, args.cert_file, args.key_file)
    discovery = discovery_for(api, prometheus.dir / "targets")
    log.info("discovery: %s", "Prometheus' kubernetes_sd" if discovery is api else f"target files in {prometheus.dir}")
    Translator(KubeClient(args.kubeconfig), discovery, prometheus, args.namespace).run()


if __name__ == "__main__":
    main()

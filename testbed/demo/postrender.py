"""A Helm post-renderer for the test bed: the operator's pod resolves ``kubernetes.default.svc``.

The test bed runs no cluster DNS (pods get an empty resolv.conf, so no lookup leaves the machine),
and kopf's service-account login addresses the API server by that DNS name (client-go and the
kubernetes package use ``KUBERNETES_SERVICE_HOST`` instead). Until the operator's login handler
does the same, the demo's ``helm install`` adds ``hostAliases`` for the ``kubernetes`` Service's
ClusterIP to the operator's pod template: the chart stays as it is, the install stays one command.

Helm runs it as ``--post-renderer <python> --post-renderer-args=-m ...``: rendered manifests on
stdin, the same manifests (Deployments amended) on stdout.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

HOSTNAMES = ["kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "kubernetes.default", "kubernetes"]


def with_host_aliases(docs: list[Any], ip: str) -> list[Any]:
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            pod["hostAliases"] = [*pod.get("hostAliases", []), {"ip": ip, "hostnames": HOSTNAMES}]
    return docs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.demo.postrender", description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-ip", required=True, help="ClusterIP of the default/kubernetes Service")
    args = parser.parse_args(argv)
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
    yaml.safe_dump_all(with_host_aliases(docs, args.kubernetes_ip), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()

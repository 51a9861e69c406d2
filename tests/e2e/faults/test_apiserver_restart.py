"""Fault: kube-apiserver restarts under a running operator (an upgrade, a crashed control plane).

Expectation: the operator process survives, its watches reconnect, and changes made the moment the
API server is back (a new service, a deleted child, a spec edit) are all acted on: nothing missed.
"""

from __future__ import annotations

import time

from testbed.kube import KubeClient
from tests.e2e.faults.support import Figures
from tests.e2e.support import API, phase_is, service, start_operator


def test_the_operator_reconnects_after_an_apiserver_restart_and_misses_nothing(
        cluster, kube: KubeClient, namespace: str, crds: None, figures: Figures):
    operator = start_operator(cluster, namespace)
    try:
        kube.create(service("before", namespace))
        kube.wait_for(API, "DiffusionService", "before", namespace, phase_is("Ready"), timeout=90, what="Ready")

        stopped = time.monotonic()
        cluster.restart_apiserver()
        downtime_s = time.monotonic() - stopped
        back = time.monotonic()

        # Three kinds of change, made as soon as the API server answers again.
        kube.create(service("after", namespace))
        kube.delete("apps/v1", "Deployment", "before", namespace)
        kube.resource(API, "DiffusionService").patch(
            name="before", namespace=namespace, content_type="application/merge-patch+json",
            body={"spec": {"pipeline": {"steps": 12}}})

        kube.wait_for(API, "DiffusionService", "after", namespace, phase_is("Ready"), timeout=120,
                      what="Ready (created after the restart)")
        kube.wait_for("apps/v1", "Deployment", "before", namespace,
                      lambda d: any(e.name == "SDXL_DEFAULT_STEPS" and e.value == "12"
                                    for e in d.spec.template.spec.containers[0].env or []),
                      timeout=120, what="re-created with the edit")
        obj = kube.wait_for(API, "DiffusionService", "before", namespace,
                            lambda o: (o.to_dict().get("status") or {}).get("observedGeneration")
                            == o.metadata.generation and phase_is("Ready")(o), timeout=60,
                            what="edit observed")
        recovered_s = time.monotonic() - back
        assert obj.metadata.generation == 2
        assert operator.process.alive(), "the operator died with the API server"
        figures.record("apiserver_restart", apiserver_downtime_s=round(downtime_s, 2),
                       seconds_from_restart_to_all_changes_converged=round(recovered_s, 2))
    finally:
        operator.stop()

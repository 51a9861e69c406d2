"""A tiny dynamic volume provisioner for the test bed (the role local-path-provisioner plays in kind).

kwok fakes kubelets but not storage, and the scheduler will not place a pod whose PVC is unbound,
so without this every pod that mounts a claim (engine builds, Triton) would stay Pending. For each
PVC of the ``standard`` StorageClass it creates a hostPath PersistentVolume pre-bound to the claim;
kube-controller-manager's real PV binder then binds them. Nothing is ever written to the path: kwok
runs no containers.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from testbed.kube import KubeClient

PROVISIONER = "testbed.dev/hostpath"
STORAGE_CLASS = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": PROVISIONER,
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "Immediate",
}
log = logging.getLogger("testbed.provisioner")


def volume_for(claim: dict[str, Any]) -> dict[str, Any]:
    meta, spec = claim["metadata"], claim["spec"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.get("storageClassName") or "standard",
            "hostPath": {"path": f"/var/lib/testbed/{meta['namespace']}/{meta['name']}", "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
        },
    }


def provision(kube: KubeClient, claim: dict[str, Any]) -> None:
    if claim["status"].get("phase") != "Pending" or (claim["spec"].get("storageClassName") or "standard") != "standard":
        return
    try:
        kube.create(volume_for(claim))
        log.info("provisioned %s/%s", claim["metadata"]["namespace"], claim["metadata"]["name"])
    except ApiException as err:
        if err.status != 409:
            raise


def run(kube: KubeClient) -> None:
    kube.apply(STORAGE_CLASS, field_manager="testbed")
    while True:
        try:
            stream = watch.Watch().stream(kube.core.list_persistent_volume_claim_for_all_namespaces,
                                          timeout_seconds=300)
            for event in stream:
                if event["type"] in ("ADDED", "MODIFIED"):
                    provision(kube, kube.api_client.sanitize_for_serialization(event["object"]))
            # PVs of deleted claims are released and cleaned by the reclaim policy's deleter, which
            # does not exist for hostPath here: delete them ourselves.
            for pv in kube.items("v1", "PersistentVolume"):
                if pv.status.phase == "Released" and (pv.metadata.annotations or {}).get(
                        "pv.kubernetes.io/provisioned-by") == PROVISIONER:
                    kube.delete("v1", "PersistentVolume", pv.metadata.name)
        except Exception:  # a test-bed helper must outlive an apiserver restart
            log.exception("provisioner watch failed; retrying")
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(KubeClient(args.kubeconfig))


if __name__ == "__main__":
    main()

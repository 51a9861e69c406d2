"""A tiny dynamic volume provisioner for the test bed (the role local-path-provisioner plays in kind).

The scheduler will not place a pod whose PVC is unbound, so without this every pod that mounts a
claim (engine builds, Triton) would stay Pending. For each PVC of the ``standard`` StorageClass it
makes a directory under the test bed's state and a hostPath PersistentVolume pre-bound to the claim;
kube-controller-manager's real PV binder then binds them. On the real node the kubelet mounts that
directory into the pods (ReadWriteMany holds: one machine); on kwok's nodes nothing touches it.

The directory is world-writable, as local-path-provisioner makes its volumes: hostPath volumes
ignore ``fsGroup``, and the build and Triton pods run as non-root users.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path
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


def volume_path(volumes_dir: Path, claim: dict[str, Any]) -> Path:
    meta = claim["metadata"]
    return volumes_dir / meta["namespace"] / f"{meta['name']}-{meta['uid'][:8]}"


def volume_for(claim: dict[str, Any], path: Path) -> dict[str, Any]:
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
            "hostPath": {"path": str(path), "type": "Directory"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
        },
    }


def provision(kube: KubeClient, claim: dict[str, Any], volumes_dir: Path) -> None:
    if claim["status"].get("phase") != "Pending" or (claim["spec"].get("storageClassName") or "standard") != "standard":
        return
    path = volume_path(volumes_dir, claim)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o1777)  # sticky like /tmp: any pod user may write, none may delete another's files
    try:
        kube.create(volume_for(claim, path))
        log.info("provisioned %s/%s", claim["metadata"]["namespace"], claim["metadata"]["name"])
    except ApiException as err:
        if err.status != 409:
            raise


def _delete_released(kube: KubeClient) -> None:
    """PVs of deleted claims are released and cleaned by the reclaim policy's deleter, which does not
    exist for hostPath here: delete them, and their directories, ourselves."""
    for pv in kube.items("v1", "PersistentVolume"):
        if pv.status.phase == "Released" and (pv.metadata.annotations or {}).get(
                "pv.kubernetes.io/provisioned-by") == PROVISIONER:
            shutil.rmtree(pv.spec.host_path.path, ignore_errors=True)
            kube.delete("v1", "PersistentVolume", pv.metadata.name)


def run(kube: KubeClient, volumes_dir: Path) -> None:
    kube.apply(STORAGE_CLASS, field_manager="testbed")
    while True:
        try:
            stream = watch.Watch().stream(kube.core.list_persistent_volume_claim_for_all_namespaces,
                                          timeout_seconds=300)
            for event in stream:
                if event["type"] in ("ADDED", "MODIFIED"):
                    provision(kube, kube.api_client.sanitize_for_serialization(event["object"]), volumes_dir)
            _delete_released(kube)
        except Exception:  # a test-bed helper must outlive an apiserver restart
            log.exception("provisioner watch failed; retrying")
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--volumes-dir", required=True, type=Path, help="where volume directories are made")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(KubeClient(args.kubeconfig), args.volumes_dir)


if __name__ == "__main__":
    main()

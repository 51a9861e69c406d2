"""Images pushed to a registry with `make images-push` are pulled by the real node's kubelet by name.

The rest of the suite imports the images into the node's containerd (no registry is reachable from
here). A cluster's nodes pull instead, so this runs that path end to end: the operator image's
archive goes to a CNCF distribution registry on loopback through the same code as
``make images-push`` (as a copy with one more label: the node already holds the operator image, and
a cluster's node pulls an image it does not hold; ``testbed.registry.labelled_copy`` says why the
same image ID under a second name is avoided), containerd is told to trust that plain-HTTP registry
(and only it), and a pod naming ``127.0.0.1:<port>/diffusion/operator:<tag>`` with
``imagePullPolicy: Always`` runs that image on ``real-0``. The node did not hold the image under that name before.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.cluster import Cluster
from testbed.images import cached_images
from testbed.kube import KubeClient, WaitTimeoutError
from testbed.realnode import RealNode
from testbed.realnode.kubelet import node_selector, tolerations
from testbed.realnode.runtime import image_names, trust_plain_http_registry
from testbed.registry import LocalRegistry, chart_values, labelled_copy, push_images


@pytest.fixture
def registry(cluster: Cluster, real_node: RealNode) -> Iterator[LocalRegistry]:
    local = LocalRegistry(cluster.state_dir / "registry")
    local.start()
    trusted = trust_plain_http_registry(real_node.layout.hosts_dir, local.address)
    yield local
    shutil.rmtree(trusted, ignore_errors=True)
    local.stop()


def test_a_pushed_image_is_pulled_by_the_node_from_the_registry(
        cluster: Cluster, kube: KubeClient, namespace: str, real_node: RealNode, registry: LocalRegistry) -> None:
    copy = labelled_copy(cached_images()["operator"], cluster.state_dir / "registry-archives",
                         "dev.diffusion-operator.test", uuid.uuid4().hex[:8])
    pushed = push_images(f"{registry.address}/diffusion", ["operator"], images={"operator": copy})
    reference = pushed["operator"]
    assert reference.startswith(f"{registry.address}/diffusion/operator:")
    assert chart_values(pushed) == {"image": dict(zip(("repository", "tag"), reference.rsplit(":", 1), strict=True))}
    assert reference not in image_names(real_node.layout)

    name = f"pulled-{uuid.uuid4().hex[:6]}"
    kube.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never", "nodeSelector": node_selector(), "tolerations": tolerations(),
            "containers": [{"name": "operator", "image": reference, "imagePullPolicy": "Always",
                            "args": ["--help"]}],
        },
    })
    try:
        pod = kube.wait_for("v1", "Pod", name, namespace, lambda p: p.status.phase in ("Succeeded", "Failed"),
                            timeout=300, what="to run")
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(namespace)}") from None
    try:
        assert pod.status.phase == "Succeeded", kube.dump_pods(namespace)
        assert pod.spec.nodeName == real_node.name
        assert reference in image_names(real_node.layout)  # pulled under the registry's name
        events = "\n".join(kube.events_for(namespace))
        assert f'Successfully pulled image "{reference}"' in events, events
    finally:
        kube.delete("v1", "Pod", name, namespace)
        Path(copy.archive).unlink(missing_ok=True)

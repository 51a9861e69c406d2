"""Images pushed to a registry with `make images-push` are pulled by the real node's kubelet by name.

The rest of the suite imports the images into the node's containerd (no registry is reachable from
here). A cluster's nodes pull instead, so this runs that path end to end: the operator image's
archive goes to a CNCF distribution registry on loopback through the same code as
``make images-push``, containerd is told to trust that plain-HTTP registry (and only it), and a pod
naming ``127.0.0.1:<port>/diffusion/operator:<tag>`` with ``imagePullPolicy: Always`` runs that image
on ``real-0``. The node did not hold the image under that name before.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from testbed.cluster import Cluster
from testbed.kube import KubeClient, WaitTimeoutError
from testbed.realnode import RealNode
from testbed.realnode.kubelet import node_selector, tolerations
from testbed.realnode.runtime import image_names, trust_plain_http_registry
from testbed.registry import LocalRegistry, chart_values, push_images


@pytest.fixture
def registry(cluster: Cluster, real_node: RealNode) -> Iterator[LocalRegistry]:
    local = LocalRegistry(cluster.state_dir / "registry")
    local.start()
    trusted = trust_plain_http_registry(real_node.layout.hosts_dir, local.address)
    yield local
    shutil.rmtree(trusted, ignore_errors=True)
    local.stop()


@pytest.mark.skip(reason=(
    "passes alone, but after it the node no longer finds ghcr.io/diffusion-operator/operator:0.1.0 (same "
    "content, other name): test_realnode_scale_to_zero's activator pods then fail to pull it (measured twice, "
    "with and without its ctr images rm). Unskip once pulling under a second name leaves the imported name intact"))
def test_a_pushed_image_is_pulled_by_the_node_from_the_registry(
        kube: KubeClient, namespace: str, real_node: RealNode, registry: LocalRegistry) -> None:
    pushed = push_images(f"{registry.address}/diffusion", ["operator"])
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
        # The pulled name stays on the node: `ctr images rm` of it was followed, in the same session, by
        # the node no longer finding ghcr.io/diffusion-operator/operator (same image, other name) for the
        # activator pods of later tests, so nothing that shares its content is removed here.
        kube.delete("v1", "Pod", name, namespace)

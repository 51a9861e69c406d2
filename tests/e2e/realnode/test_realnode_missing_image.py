"""An image that is not there: the real kubelet fails to pull it, and the status names it.

No registry is reachable from the test bed (every registry host is a closed loopback port), so the
pull fails at once, as it does on a cluster whose nodes cannot reach the registry or where a tag was
never pushed. The service must say which image, in a condition and an Event, and stay up otherwise.
"""

from __future__ import annotations

from testbed.kube import KubeClient, WaitTimeoutError
from testbed.operator_process import OperatorProcess
from testbed.realnode.product import API, IMAGES, tiny_service
from tests.e2e.realnode.support import condition_of

SERVICE = "missing-image"
MISSING = IMAGES["triton-sdxl"].rsplit(":", 1)[0] + ":never-built"


def test_a_serving_image_that_is_not_there_is_named_in_the_status(
        kube: KubeClient, restricted_namespace: str, realnode_operator: OperatorProcess):
    kube.create(tiny_service(SERVICE, restricted_namespace, serving={"image": MISSING}))
    try:
        obj = kube.wait_for(API, "DiffusionService", SERVICE, restricted_namespace,
                            lambda o: condition_of(o, "Available").get("reason") == "ImagePullFailed",
                            timeout=420, what="ImagePullFailed")
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(restricted_namespace)}") from None
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)  # its GPU goes back to the suite
    ready = condition_of(obj, "Ready")
    assert ready["status"] == "False"
    assert MISSING in ready["message"], ready  # the kubelet's own words, naming the image
    assert "ErrImagePull" in ready["message"] or "ImagePullBackOff" in ready["message"]
    assert realnode_operator.process.alive()

"""How the product is configured to run on the real node: the operator's settings and a tiny service.

These are the knobs a platform team turns on a cluster whose GPU nodes are not GKE's, set once here
so the real-node tests and the demo run the product the same way: ``gpuNodeLabels`` and
``gpuTolerations`` select the real node, the CPU images and the ``onnxruntime`` build backend
replace the TensorRT ones, and the build pod asks for a quarter of a core; its memory is the tiny
model's own figure (engines/build_memory.py: 2.3 GiB, request = limit), not SDXL's.
"""

from __future__ import annotations

import json
from typing import Any

from testbed.images import RECIPES
from testbed.realnode.kubelet import GPU_TYPE, node_selector, tolerations

API = "diffusion.dev/v1alpha1"
#: Image name (testbed/images/recipes.py) -> the tag the real node's containerd holds it under.
IMAGES = {recipe.name: recipe.tag for recipe in RECIPES}
#: The tiny model's build needs a fraction of the default 4 CPUs (the node has 2). No memory: a memory here
#: would replace the figures as the build's limit too, and the tiny CPU build peaks at 1.1 GiB RSS.
BUILD_REQUESTS = {"cpu": "250m"}


def operator_env(prometheus_url: str) -> dict[str, str]:
    """``DIFFUSION_*`` settings (diffusion_operator/config.py) for an operator serving on the real node."""
    return {
        "DIFFUSION_BUILD_BACKEND": "onnxruntime",
        "DIFFUSION_BUILDER_IMAGE": IMAGES["engine-builder"],
        "DIFFUSION_TRITON_IMAGE": IMAGES["triton-sdxl"],
        "DIFFUSION_GPU_NODE_LABELS": json.dumps({GPU_TYPE: node_selector()}),
        "DIFFUSION_GPU_TOLERATIONS": json.dumps(tolerations()),
        "DIFFUSION_BUILD_REQUESTS": json.dumps(BUILD_REQUESTS),
        "DIFFUSION_PROMETHEUS_URL": prometheus_url,
        # The activator (minReplicas 0) runs from the operator image, on the real node like Triton.
        "DIFFUSION_ACTIVATOR_IMAGE": IMAGES["operator"],
        "DIFFUSION_ACTIVATOR_NODE_SELECTOR": json.dumps(node_selector()),
        "DIFFUSION_ACTIVATOR_TOLERATIONS": json.dumps(tolerations()),
    }


def tiny_service(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """The tiny model at 256x256 (the smallest engine profile) with 2 steps: real engines, real images, CPU-fast."""
    body: dict[str, Any] = {
        "model": {"source": "builtin://tiny-sdxl"},
        "engine": {"resolutions": [{"width": 256, "height": 256}], "maxBatchSize": 2},
        "pipeline": {"steps": 2},
        "serving": {"resources": {"requests": {"cpu": "100m", "memory": "512Mi"}}},
        **spec,
    }
    return {"apiVersion": API, "kind": "DiffusionService", "metadata": {"name": name, "namespace": namespace},
            "spec": body}

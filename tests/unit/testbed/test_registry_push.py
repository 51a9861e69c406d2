"""`make images-push`: where each built image goes, the chart values naming them, and clear refusals."""

from __future__ import annotations

import pytest

from testbed.images import CachedImage
from testbed.registry import PushError, chart_values, push_images, pushed_name


def built(name: str, tag: str) -> CachedImage:
    return CachedImage(name=name, tag=tag, archive=f"/cache/{name}.tar", hash="h", size_bytes=1,
                       build_seconds=1.0, built_at="now")


def test_an_image_keeps_its_last_name_part_and_tag_under_the_registry() -> None:
    assert pushed_name("ghcr.io/diffusion-operator/operator:0.1.0", "us-docker.pkg.dev/p/diffusion/") == \
        "us-docker.pkg.dev/p/diffusion/operator:0.1.0"
    assert pushed_name("registry.k8s.io/pause:3.10", "127.0.0.1:5000") == "127.0.0.1:5000/pause:3.10"


def test_the_chart_values_name_the_operator_image_and_the_defaults_it_deploys() -> None:
    values = chart_values({"operator": "r/operator:0.1.0", "engine-builder": "r/engine-builder:0.1.0-cpu",
                           "triton-sdxl": "r/triton-sdxl:0.1.0-cpu", "pause": "r/pause:3.10"})
    assert values == {"image": {"repository": "r/operator", "tag": "0.1.0"},
                      "defaults": {"builderImage": "r/engine-builder:0.1.0-cpu",
                                   "tritonImage": "r/triton-sdxl:0.1.0-cpu"}}


def test_an_image_that_was_never_built_is_named_before_anything_is_pushed() -> None:
    with pytest.raises(PushError, match=r"not built yet: triton-sdxl \(run `make images`"):
        push_images("r", ["operator", "triton-sdxl"], images={"operator": built("operator", "x/operator:1")})

"""`make images-push`: where each built image goes, the chart values naming them, and clear refusals."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from testbed.images import CachedImage
from testbed.registry import PushError, chart_values, labelled_copy, push_images, pushed_name


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


def archive_with(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def members_of(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_a_labelled_copy_is_a_new_image_id_over_the_same_layers(tmp_path: Path) -> None:
    config = json.dumps({"config": {"Entrypoint": ["x"]}, "rootfs": {"diff_ids": ["sha256:l"]}}).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    original = tmp_path / "operator.tar"
    archive_with(original, {"layer.tar": b"layer bytes", config_name: config,
                            "manifest.json": json.dumps([{"Config": config_name, "RepoTags": ["x/operator:1"],
                                                          "Layers": ["layer.tar"]}]).encode()})
    image = CachedImage(name="operator", tag="x/operator:1", archive=str(original), hash="h", size_bytes=1,
                        build_seconds=1.0, built_at="now")

    copy = labelled_copy(image, tmp_path / "copies", "test", "abc")

    members = members_of(Path(copy.archive))
    [entry] = json.loads(members["manifest.json"])
    new_config = members[entry["Config"]]
    assert entry["Config"] != config_name and entry["Config"] == f"{hashlib.sha256(new_config).hexdigest()}.json"
    assert json.loads(new_config)["config"] == {"Entrypoint": ["x"], "Labels": {"test": "abc"}}
    assert entry["Layers"] == ["layer.tar"] and members["layer.tar"] == b"layer bytes"
    assert config_name not in members and copy.tag == image.tag and copy.archive != image.archive

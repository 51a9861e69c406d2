"""What a photoshoot build is made of: plan rules, segmenter configs, Triton configs (no ML stack needed).

The segmenter's export and ONNX Runtime runs are integration tests (test_engine_builder_segmenter.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine_builder.components import Dims, component_spec, components_for
from engine_builder.errors import SourceError
from engine_builder.plan import BuildPlan
from engine_builder.repository.model_config import parse, render
from engine_builder.repository.photoshoot import (
    PHOTOSHOOT_INPUTS,
    photoshoot_config,
    post_config,
    pre_config,
    segmenter_config,
)
from engine_builder.segmentation import (
    SegmenterConfig,
    resolve_segmenter,
)

PHOTOSHOOT = {
    "source": "builtin://tiny-sdxl",
    "backend": "onnxruntime",
    "pipelines": ["photoshoot"],
    "inpaint_source": "builtin://tiny-sdxl-inpaint",
    "segmentation_source": "builtin://tiny-segmenter",
}


def test_a_photoshoot_plan_needs_both_of_its_sources():
    with pytest.raises(ValidationError, match="segmentation_source: required"):
        BuildPlan.model_validate({**PHOTOSHOOT, "segmentation_source": None})
    with pytest.raises(ValidationError, match="inpaint_source: only used by the photoshoot pipeline"):
        BuildPlan.model_validate({"source": "builtin://tiny-sdxl", "inpaint_source": "builtin://tiny-sdxl-inpaint"})


@pytest.mark.parametrize("pipelines", [[], ["text2image", "text2image"], ["video"]])
def test_pipelines_must_be_a_non_empty_set_of_known_names(pipelines):
    with pytest.raises(ValidationError, match="pipelines"):
        BuildPlan.model_validate({"source": "builtin://tiny-sdxl", "pipelines": pipelines})


def test_each_pipeline_brings_its_components_and_shares_the_text_encoders_and_vae():
    assert components_for(("text2image",)) == ("clip", "clip2", "unetxl", "vae")
    assert components_for(("photoshoot",)) == ("clip", "clip2", "vae", "vae_encoder", "unetxl_inpaint")
    assert components_for(("text2image", "photoshoot")) == (
        "clip",
        "clip2",
        "unetxl",
        "vae",
        "vae_encoder",
        "unetxl_inpaint",
    )


def test_the_inpainting_unet_takes_latent_mask_and_masked_latent_on_nine_channels():
    spec = component_spec("unetxl_inpaint", Dims())
    sample = next(t for t in spec.inputs if t.name == "sample")
    assert sample.axes == ("2B", 9, "H", "W")
    assert [t.name for t in spec.outputs] == ["latent"]
    encoder = component_spec("vae_encoder", Dims())
    assert [t.name for t in encoder.outputs] == ["latent_mean", "latent_std"]


def test_a_segmentation_source_without_its_files_or_config_is_refused(tmp_path: Path):
    (tmp_path / "claim" / "u2net").mkdir(parents=True)
    with pytest.raises(SourceError, match=r"has no model\.onnx"):
        resolve_segmenter("pvc://claim/u2net", tmp_path / "work", pvc_root=tmp_path)
    with pytest.raises(SourceError, match=r"std > 0"):
        SegmenterConfig.parse({"std": [0, 1, 1]}, "segmenter.json")
    with pytest.raises(SourceError, match="unknown builtin"):
        resolve_segmenter("builtin://u2net", tmp_path)


def test_every_photoshoot_config_parses_as_a_triton_model_config():
    plan = BuildPlan.model_validate({**PHOTOSHOOT, "max_batch_size": 3})
    for config in (photoshoot_config(plan), pre_config(), post_config()):
        assert parse(render(config)).name == config["name"]
    orchestrator = parse(render(photoshoot_config(plan)))
    assert orchestrator.name == "sdxl-photoshoot"
    assert orchestrator.instance_group[0].count == 3
    required = {t.name for t in orchestrator.input if not t.optional}
    assert required == {"image", "prompt"} == {n for n, (_, optional) in PHOTOSHOOT_INPUTS.items() if not optional}
    assert [t.name for t in orchestrator.output] == ["image", "mask", "seed"]


def test_the_segmenter_batches_when_its_onnx_batch_axis_is_dynamic_and_not_otherwise():
    plan = BuildPlan.model_validate(PHOTOSHOOT)
    dynamic = {"image": ("float32", ("N", 3, "H", "W")), "mask": ("float32", ("N", 1, "H", "W"))}
    config = parse(render(segmenter_config(plan, dynamic, ["image"], ["mask"])))
    assert config.max_batch_size == plan.max_batch_size and list(config.input[0].dims) == [3, -1, -1]
    fixed = {"input": ("float32", (1, 3, 320, 320)), "d0": ("float32", (1, 1, 320, 320))}
    config = parse(render(segmenter_config(plan, fixed, ["input"], ["d0"])))
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [1, 3, 320, 320]
    assert not config.HasField("dynamic_batching")


def test_the_segmenter_json_round_trips():
    config = SegmenterConfig(
        input_size=(320, 320), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), output="logits"
    )
    assert SegmenterConfig.parse(json.loads(json.dumps(config.to_json())), "x") == config

"""``spec.pipelines`` in the build plan: it chooses what is built, so it is part of the cache key."""

from __future__ import annotations

from diffusion_operator.api.resource import parse_spec
from diffusion_operator.engines.plan import cache_key_for, plan_for

from engine_builder.plan import DEFAULT_INPAINT_SOURCE, BuildPlan
from tests.unit.api.spec_cases import MINIMAL, spec_with

TRT = "10.13.3"
TINY = {"model": {"source": "builtin://tiny-sdxl"}}


def key(spec: dict) -> str:
    return cache_key_for(parse_spec(spec), TRT)


def test_text2image_is_the_default_and_keeps_the_key_it_had_before_pipelines_existed() -> None:
    assert parse_spec(MINIMAL).pipelines == ["text2image"]
    assert key(MINIMAL) == key(spec_with(pipelines=["text2image"]))
    legacy = plan_for(parse_spec(MINIMAL), TRT).model_dump(
        mode="json", exclude={"pipelines", "inpaint_source", "segmentation_source", "execution_mode"}
    )
    assert BuildPlan.model_validate(legacy).cache_key() == key(MINIMAL)


def test_adding_photoshoot_changes_the_key_and_the_order_of_pipelines_does_not() -> None:
    both = key({**TINY, "pipelines": ["text2image", "photoshoot"]})
    assert both == key({**TINY, "pipelines": ["photoshoot", "text2image"]})
    assert both != key(TINY)
    assert key({**TINY, "pipelines": ["photoshoot"]}) not in {both, key(TINY)}


def test_the_tiny_model_pairs_with_the_tiny_inpainting_unet_and_segmenter() -> None:
    plan = plan_for(parse_spec({**TINY, "pipelines": ["photoshoot"]}), TRT)
    assert plan.pipelines == ("photoshoot",)
    assert plan.inpaint_source == "builtin://tiny-sdxl-inpaint"
    assert plan.segmentation_source == "builtin://tiny-segmenter"


def test_a_real_model_defaults_to_the_public_inpainting_unet_and_needs_its_segmenter_named() -> None:
    spec = spec_with(pipelines=["text2image", "photoshoot"], model__segmentationSource="pvc://models/u2net")
    plan = plan_for(parse_spec(spec), TRT)
    assert plan.inpaint_source == DEFAULT_INPAINT_SOURCE
    assert plan.segmentation_source == "pvc://models/u2net"
    other = spec_with(pipelines=["text2image", "photoshoot"], model__segmentationSource="pvc://models/rmbg")
    assert key(spec) != key(other), "another segmentation model is another build"


def test_photoshoot_sources_stay_out_of_text2image_plans() -> None:
    spec = spec_with(model__segmentationSource="pvc://models/u2net", model__inpaintSource="pvc://models/inpaint")
    plan = plan_for(parse_spec(spec), TRT)
    assert plan.inpaint_source is None and plan.segmentation_source is None
    assert key(spec) == key(MINIMAL)


def test_engine_execution_mode_reaches_the_plan_and_only_in_process_changes_the_key() -> None:
    assert plan_for(parse_spec(MINIMAL), TRT).execution_mode == "bls"
    assert key(spec_with(engine__executionMode="BLS")) == key(MINIMAL)
    in_process = spec_with(engine__executionMode="InProcess")
    assert plan_for(parse_spec(in_process), TRT).execution_mode == "in_process"
    assert key(in_process) != key(MINIMAL)


def test_the_full_size_random_architecture_pairs_with_its_inpainting_variant() -> None:
    spec = parse_spec({"model": {"source": "builtin://sdxl-architecture"}, "pipelines": ["text2image", "photoshoot"]})
    plan = plan_for(spec, TRT)
    assert plan.source == "builtin://sdxl-architecture"
    assert plan.inpaint_source == "builtin://sdxl-architecture-inpaint"
    assert plan.segmentation_source == "builtin://tiny-segmenter"

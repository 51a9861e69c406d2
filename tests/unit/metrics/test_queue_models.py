"""Which queue is a service's SLA: its pipelines' entry models, summed; an operator override wins."""

from __future__ import annotations

import pytest
from diffusion_operator.alerts import rule_groups
from diffusion_operator.config import OperatorConfig
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.operator_promql import fleet_scope
from diffusion_operator.metrics.promql import TritonScope, models_pattern
from diffusion_operator.metrics.queue_models import ALL_QUEUE_MODELS, queue_models

from engine_builder.layout import PHOTOSHOOT_MODEL
from engine_builder.plan import BuildPlan
from engine_builder.repository.text2image import sdxl_config


def test_each_pipeline_is_watched_at_the_model_its_requests_enter_by() -> None:
    assert queue_models(["text2image"]) == ("sdxl",)
    assert queue_models(["photoshoot"]) == (PHOTOSHOOT_MODEL,) == ("sdxl-photoshoot",)
    assert queue_models(["photoshoot", "text2image"]) == ("sdxl", "sdxl-photoshoot")
    assert ALL_QUEUE_MODELS == ("sdxl", "sdxl-photoshoot")


def test_the_entry_models_are_the_names_the_builder_writes() -> None:
    plan = BuildPlan.model_validate({"source": "builtin://tiny-sdxl", "backend": "onnxruntime"})
    assert sdxl_config(plan)["name"] == queue_models(["text2image"])[0]


def test_the_operators_override_replaces_every_services_models() -> None:
    assert OperatorConfig().queue_model is None
    override = OperatorConfig.from_env({"DIFFUSION_QUEUE_MODEL": "custom_bls"}).queue_model
    assert queue_models(["text2image", "photoshoot"], override=override) == ("custom_bls",)


def test_a_service_without_a_known_pipeline_is_an_error_not_an_empty_selector() -> None:
    with pytest.raises(ValueError, match="no entry model"):
        queue_models([])


def test_one_model_matches_exactly_and_several_as_a_literal_alternation() -> None:
    assert TritonScope.of_models("shop", "shots", ["sdxl"]).matchers() == (
        '{namespace="shop",diffusion_dev_service="shots",model="sdxl"}')
    both = TritonScope.of_models("shop", "shots", queue_models(["text2image", "photoshoot"]))
    selector = '{namespace="shop",diffusion_dev_service="shots",model=~"sdxl|sdxl-photoshoot"}'
    assert both.matchers() == selector
    # Summed over both models: each request counted once, at the model it entered by.
    assert promql.queue_latency_seconds(both, 60) == (
        f"(sum(rate(nv_inference_queue_duration_us{selector}[60s])) / "
        f"clamp_min(sum(rate(nv_inference_request_success{selector}[60s])), 1e-9)) / 1e+06"
    )
    assert promql.pending_requests(both) == f"sum(nv_inference_pending_request_count{selector})"


def test_model_names_are_escaped_so_a_dot_is_not_a_wildcard() -> None:
    assert models_pattern(["my.model", "b+c", "sdxl"]) == r"b\+c|my\.model|sdxl"
    scope = TritonScope.of_models("ns", "svc", ["my.model", "other"])
    assert 'model=~"my\\\\.model|other"' in scope.matchers()
    with pytest.raises(ValueError, match="at least one model"):
        TritonScope.of_models("ns", "svc", [])


def test_the_alert_rules_watch_every_entry_model_or_the_override() -> None:
    assert 'model=~"sdxl|sdxl-photoshoot"' in str(rule_groups("5m"))
    assert fleet_scope(ALL_QUEUE_MODELS).model_matcher() == 'model=~"sdxl|sdxl-photoshoot"'
    one = str(rule_groups("5m", model=PHOTOSHOOT_MODEL))
    assert 'model="sdxl-photoshoot"' in one and "=~\"sdxl|" not in one

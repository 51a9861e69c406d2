"""Autoscaling a photoshoot service: DIFFUSION_QUEUE_MODEL=sdxl-photoshoot points every query at its queue."""

from __future__ import annotations

from diffusion_operator.alerts import rule_groups
from diffusion_operator.config import OperatorConfig
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.promql import TritonScope

from engine_builder.photoshoot_repository import PHOTOSHOOT_MODEL


def test_the_operator_reads_the_queue_model_from_its_environment() -> None:
    assert OperatorConfig().queue_model == "sdxl"
    assert OperatorConfig.from_env({"DIFFUSION_QUEUE_MODEL": PHOTOSHOOT_MODEL}).queue_model == "sdxl-photoshoot"


def test_the_scalers_queries_select_the_photoshoot_models_series() -> None:
    scope = TritonScope(
        namespace="shop",
        service="shots",
        model=OperatorConfig.from_env({"DIFFUSION_QUEUE_MODEL": PHOTOSHOOT_MODEL}).queue_model,
    )
    selector = '{namespace="shop",diffusion_dev_service="shots",model="sdxl-photoshoot"}'
    assert promql.queue_latency_seconds(scope, 60) == (
        f"(sum(rate(nv_inference_queue_duration_us{selector}[60s])) / "
        f"clamp_min(sum(rate(nv_inference_request_success{selector}[60s])), 1e-9)) / 1e+06"
    )
    assert promql.pending_requests(scope) == f"sum(nv_inference_pending_request_count{selector})"


def test_the_alert_rules_can_watch_the_same_queue() -> None:
    assert 'model="sdxl-photoshoot"' in str(rule_groups("5m", model=PHOTOSHOOT_MODEL))

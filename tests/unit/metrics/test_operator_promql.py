"""The operator's PromQL and the per-service (fleet) form of promql's builders, exactly."""

from __future__ import annotations

import pytest
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.operator_promql import OperatorScope
from diffusion_operator.metrics.promql import TritonScope

OP = OperatorScope(namespace="prod", service="sdxl")
OSEL = '{namespace="prod",service="sdxl"}'
TRITON = TritonScope(namespace="prod", service="sdxl", model="sdxl")
FLEET = '{namespace=~".+",diffusion_dev_service=~".+",model="sdxl"}'


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (op.queue_latency_target_seconds(OP), f"max(diffusion_operator_queue_latency_target_seconds{OSEL})"),
        (op.desired_replicas(OP), f"max(diffusion_operator_desired_replicas{OSEL})"),
        (op.ready_replicas(OP), f"max(diffusion_operator_ready_replicas{OSEL})"),
        (op.scale_decisions(OP, 300),
         f"sum by (direction, reason) (increase(diffusion_operator_scale_decisions_total{OSEL}[300s]))"),
        (op.engine_builds("prod", 3600),
         'sum by (result) (increase(diffusion_operator_engine_builds_total{namespace="prod"}[3600s]))'),
        (op.engine_build_seconds_quantile("prod", 0.9, 3600),
         'histogram_quantile(0.9, sum by (le) '
         '(increase(diffusion_operator_engine_build_duration_seconds_bucket{namespace="prod"}[3600s])))'),
        (op.request_p95_worst_pod_seconds(TRITON),
         'max(nv_inference_request_summary_us{namespace="prod",diffusion_dev_service="sdxl",model="sdxl",'
         'quantile="0.95"}) / 1e+06'),
        (op.cost_per_image("0.70", OP, TRITON, 60),
         f"0.70 * max(diffusion_operator_ready_replicas{OSEL}) / 3600 / ({promql.success_rate(TRITON, 60)} > 0)"),
        (op.operator_down(),
         'max(up{job=~".*diffusion-operator.*"}) == 0 or absent(up{job=~".*diffusion-operator.*"})'),
        (op.label_values("m", "service", namespace="$namespace"), 'label_values(m{namespace="$namespace"}, service)'),
        (op.label_values("m", "namespace"), "label_values(m, namespace)"),
    ],
)
def test_operator_builders(built: str, expected: str) -> None:
    assert built == expected


def test_fleet_scope_selects_every_service_of_one_model() -> None:
    assert op.fleet_scope("sdxl").matchers() == FLEET
    assert promql.pending_requests(op.fleet_scope("sdxl")) == f"sum(nv_inference_pending_request_count{FLEET})"


def test_per_service_groups_every_aggregation_and_keeps_promqls_arithmetic() -> None:
    single = promql.queue_latency_seconds(op.fleet_scope("sdxl"), 60)
    grouped = op.per_service(single)
    assert grouped == (
        f"(sum by (namespace, diffusion_dev_service) (rate(nv_inference_queue_duration_us{FLEET}[60s])) / "
        f"clamp_min(sum by (namespace, diffusion_dev_service) (rate(nv_inference_request_success{FLEET}[60s])), "
        f"1e-9)) / 1e+06"
    )
    assert grouped.replace(" by (namespace, diffusion_dev_service) (", "(") == single


def test_per_service_refuses_expressions_it_cannot_group_safely() -> None:
    with pytest.raises(ValueError, match="ungrouped"):
        op.per_service(promql.arrival_rate(op.fleet_scope("sdxl")))  # `or vector(0)` has no labels to match
    with pytest.raises(ValueError, match="ungrouped"):
        op.per_service(op.scale_decisions(OP))


@pytest.mark.parametrize("price", ["0.7; drop", "", "$", "1e3", "-1"])
def test_cost_per_image_takes_only_a_number_or_a_variable(price: str) -> None:
    with pytest.raises(ValueError, match="price"):
        op.cost_per_image(price, OP, TRITON)


@pytest.mark.parametrize("quantile", [0, 1, 1.5])
def test_quantiles_are_between_zero_and_one(quantile: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        op.engine_build_seconds_quantile("prod", quantile)


def test_operator_labels_are_copied_to_the_triton_service_label() -> None:
    assert op.as_triton_service("x") == 'label_replace(x, "diffusion_dev_service", "$1", "service", "(.*)")'


def test_first_engine_failure_of_a_namespace_is_not_missed() -> None:
    expr = op.failed_engine_builds(1800)
    failed = 'diffusion_operator_engine_builds_total{result="failed"}'
    assert f"({failed} unless {failed} offset 1800s)" in expr

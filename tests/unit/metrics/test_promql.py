"""The PromQL strings, exactly: every consumer (scaler, dashboards, alerts) relies on them."""

from __future__ import annotations

import pytest
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.promql import TritonScope

SCOPE = TritonScope(namespace="prod", service="sdxl", model="unet")
SEL = '{namespace="prod",diffusion_dev_service="sdxl",model="unet"}'


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (
            promql.queue_latency_seconds(SCOPE, 60),
            f"(sum(rate(nv_inference_queue_duration_us{SEL}[60s])) / "
            f"clamp_min(sum(rate(nv_inference_request_success{SEL}[60s])), 1e-9)) / 1e+06",
        ),
        (promql.pending_requests(SCOPE), f"sum(nv_inference_pending_request_count{SEL})"),
        (promql.success_rate(SCOPE, 30), f"sum(rate(nv_inference_request_success{SEL}[30s]))"),
        (promql.failure_rate(SCOPE, 30), f"sum(rate(nv_inference_request_failure{SEL}[30s]))"),
        (
            promql.arrival_rate(SCOPE, 60),
            f"sum(rate(nv_inference_request_success{SEL}[60s])) + "
            f"(sum(rate(nv_inference_request_failure{SEL}[60s])) or vector(0)) + "
            f"sum(deriv(nv_inference_pending_request_count{SEL}[60s]))",
        ),
        (
            promql.service_seconds_per_request(SCOPE, 60),
            f"(sum(rate(nv_inference_request_duration_us{SEL}[60s])) - "
            f"sum(rate(nv_inference_queue_duration_us{SEL}[60s]))) / "
            f"clamp_min(sum(rate(nv_inference_request_success{SEL}[60s])), 1e-9) / 1e+06",
        ),
        (
            promql.compute_seconds_per_request(SCOPE, 60),
            f"(sum(rate(nv_inference_compute_infer_duration_us{SEL}[60s])) / "
            f"clamp_min(sum(rate(nv_inference_request_success{SEL}[60s])), 1e-9)) / 1e+06",
        ),
        (
            promql.batch_size(SCOPE, 60),
            f"sum(rate(nv_inference_count{SEL}[60s])) / clamp_min(sum(rate(nv_inference_exec_count{SEL}[60s])), 1e-9)",
        ),
        (
            promql.queue_p95_worst_pod_seconds(SCOPE),
            'max(nv_inference_queue_summary_us{namespace="prod",diffusion_dev_service="sdxl",model="unet",'
            'quantile="0.95"}) / 1e+06',
        ),
        (
            promql.gpu_utilization_triton(SCOPE),
            'avg(nv_gpu_utilization{namespace="prod",diffusion_dev_service="sdxl"})',
        ),
        (
            promql.gpu_utilization_dcgm("prod", "sdxl-triton-.*", namespace_label="exported_namespace",
                                        pod_label="exported_pod"),
            'avg(DCGM_FI_DEV_GPU_UTIL{exported_namespace="prod",exported_pod=~"sdxl-triton-.*"}) / 100',
        ),
    ],
)
def test_builders_produce_the_documented_expressions(built: str, expected: str) -> None:
    assert built == expected


def test_ratios_sum_before_dividing_never_average_per_pod_ratios() -> None:
    query = promql.queue_latency_seconds(SCOPE)
    assert "avg(" not in query and query.count("sum(rate(") == 2


def test_scope_can_select_pods_by_name_and_other_labels() -> None:
    scope = TritonScope(namespace="ns", service="svc", model="bls", service_label="app_kubernetes_io_instance",
                        pod_regex="svc-triton-.*", extra_matchers=(("version", "1"),))
    assert scope.matchers() == (
        '{namespace="ns",app_kubernetes_io_instance="svc",pod=~"svc-triton-.*",model="bls",version="1"}'
    )
    assert scope.matchers(with_model=False) == (
        '{namespace="ns",app_kubernetes_io_instance="svc",pod=~"svc-triton-.*",version="1"}'
    )


def test_label_values_are_escaped() -> None:
    scope = TritonScope(namespace="ns", service='we"ird\\name', model="m")
    assert 'diffusion_dev_service="we\\"ird\\\\name"' in scope.matchers()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(namespace="ns", service="svc", model="m", service_label="diffusion.dev/service"),
        dict(namespace="", service="svc", model="m"),
        dict(namespace="ns", service="svc", model="m", extra_matchers=(("bad-label", "x"),)),
    ],
)
def test_invalid_scopes_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TritonScope(**kwargs)


def test_windows_are_whole_positive_seconds() -> None:
    assert promql.window(30) == "30s"
    with pytest.raises(ValueError):
        promql.window(0)

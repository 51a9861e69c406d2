"""The edge's PromQL: exact strings over the series the activator exports, idle reads as no data."""

from __future__ import annotations

import pytest
from diffusion_operator.metrics import api_promql as api
from diffusion_operator.metrics import operator_promql as op

SCOPE = api.EdgeScope("studio", "sdxl")
SELECT = 'namespace="studio",diffusion_dev_service="sdxl"'
IMAGES = 'route=~"/v1/images/.+"'


def test_latency_quantiles_are_over_served_image_requests_merged_across_replicas() -> None:
    assert api.latency_quantile(SCOPE, 0.99, 60) == (
        "histogram_quantile(0.99, sum by (le) (rate(diffusion_api_request_duration_seconds_bucket"
        f'{{{SELECT},{IMAGES},code_class="2xx"}}[60s])))')
    with pytest.raises(ValueError, match="quantile"):
        api.latency_quantile(SCOPE, 1.0)


def test_the_share_within_target_counts_served_in_time_over_what_the_service_owed() -> None:
    owed = f'sum(rate(diffusion_api_request_duration_seconds_count{{{SELECT},{IMAGES},code_class=~"2xx|5xx"}}[300s]))'
    assert api.within_target_share(SCOPE, "30.0", 300) == (
        f'(sum(rate(diffusion_api_request_duration_seconds_bucket{{{SELECT},{IMAGES},code_class="2xx",le="30.0"}}'
        f"[300s])) or {owed} * 0) / ({owed} > 0)")


@pytest.mark.parametrize("target", ["30", "25.0", "30s", "", "$", "${x}"])
def test_a_latency_target_is_a_bucket_bound_a_variable_or_a_placeholder(target: str) -> None:
    with pytest.raises(ValueError, match="bounds"):
        api.within_target_share(SCOPE, target)
    for fine in ("0.05", "600.0", "$api_latency_target", "__API_LATENCY_TARGET__"):
        assert f'le="{fine}"' in api.within_target_share(SCOPE, fine)


def test_request_and_image_rates_split_by_labels_and_codes() -> None:
    assert api.request_rate(SCOPE, 60) == f"sum(rate(diffusion_api_requests_total{{{SELECT}}}[60s]))"
    assert api.request_rate(SCOPE, 60, by=("key",), code="429") == (
        f'sum by (key) (rate(diffusion_api_requests_total{{{SELECT},code="429"}}[60s]))')
    assert api.images_rate(SCOPE, 60, by=("key",)) == (
        f"sum by (key) (rate(diffusion_api_images_total{{{SELECT}}}[60s]))")


def test_the_5xx_share_leaves_requests_without_a_key_out() -> None:
    keyed = f'sum(rate(diffusion_api_requests_total{{{SELECT},key!="(none)"}}[60s]))'
    assert api.server_error_share(SCOPE, 60) == (
        f'(sum(rate(diffusion_api_requests_total{{{SELECT},key!="(none)",code=~"5.."}}[60s])) or {keyed} * 0) '
        f"/ ({keyed} > 0)")


def test_the_queue_wait_share_is_held_seconds_over_image_request_seconds() -> None:
    took = f"sum(rate(diffusion_api_request_duration_seconds_sum{{{SELECT},{IMAGES}}}[60s]))"
    assert api.queue_wait_share(SCOPE, 60) == (
        f"(sum(rate(diffusion_api_queue_wait_seconds_total{{{SELECT}}}[60s])) or {took} * 0) / ({took} > 0)")


def test_the_fleet_form_groups_every_aggregation_per_service() -> None:
    fleet = op.per_service(api.server_error_share(api.fleet_scope(), 300))
    assert "sum(" not in fleet
    assert fleet.count("sum by (namespace, diffusion_dev_service) (") == 3
    assert 'namespace=~".+",diffusion_dev_service=~".+"' in fleet


def test_a_scope_needs_a_namespace_a_service_and_a_label_name() -> None:
    with pytest.raises(ValueError):
        api.EdgeScope("", "sdxl")
    with pytest.raises(ValueError):
        api.EdgeScope("ns", "sdxl", service_label="diffusion.dev/service")

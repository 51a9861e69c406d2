"""Load-test statistics: latency from the scheduled time, interpolated percentiles, SLA share."""

from __future__ import annotations

import numpy as np
import pytest
from diffusion_operator.client.stats import Sample, percentile, summarize
from diffusion_operator.client.triton import ModelStatistics, parse_statistics


def test_percentiles_match_numpys_linear_interpolation():
    values = [0.3, 0.1, 0.9, 0.5, 0.7, 0.2, 1.5]
    for q in (0, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_counts_from_the_scheduled_time_so_client_side_waiting_is_not_hidden():
    sample = Sample(scheduled_s=1.0, sent_s=3.0, done_s=3.5, ok=True)
    assert sample.latency_s == pytest.approx(2.5)


def test_the_summary_counts_errors_as_outside_the_sla_and_throughput_over_the_wall_time():
    samples = [Sample(0, 0, 0.5, True), Sample(1, 1, 2.5, True), Sample(2, 2, 2.9, True),
               Sample(3, 3, 3.1, False, "server rejected the request")]
    summary = summarize(samples, sla_s=1.0, queue_share=0.25, wall_s=4.0)
    assert (summary.requests, summary.succeeded, summary.errors) == (4, 3, 1)
    assert summary.within_sla == pytest.approx(2 / 4)
    assert summary.images_per_s == pytest.approx(3 / 4)
    assert summary.p50_s == pytest.approx(0.9)
    assert summary.error_examples == ["server rejected the request"]
    assert summary.to_json()["queue_share"] == 0.25


def test_no_sla_means_no_sla_share_and_no_samples_means_no_percentiles():
    summary = summarize([], sla_s=None, queue_share=None, wall_s=0.0)
    assert summary.within_sla is None and summary.p99_s is None and summary.images_per_s == 0.0


def test_queue_share_comes_from_the_difference_of_two_statistics_readings():
    raw = {"model_stats": [{"name": "sdxl", "version": "1", "inference_stats": {
        "success": {"count": 10, "ns": 4_000_000_000}, "queue": {"count": 10, "ns": 1_000_000_000}}}]}
    later = parse_statistics(raw)
    earlier = ModelStatistics(success_count=4, queue_ns=400_000_000, request_ns=1_600_000_000)
    window = later.minus(earlier)
    assert window.success_count == 6
    assert window.queue_share == pytest.approx(0.6e9 / 2.4e9)
    assert ModelStatistics(0, 0, 0).queue_share is None

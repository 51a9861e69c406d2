"""The CLI's result tables (rich), one function per command that prints one: pure formatting."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from diffusion_operator.client import planner
from diffusion_operator.client.stats import Summary
from diffusion_operator.client.status_rows import COLUMNS, row


def summary_table(summary: Summary) -> Table:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}s"

    def share(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    table = Table("metric", "value", title="load test")
    table.add_row("requests (ok / errors)", f"{summary.requests} ({summary.succeeded} / {summary.errors})")
    table.add_row("latency p50 / p95 / p99", " / ".join(seconds(v) for v in (summary.p50_s, summary.p95_s,
                                                                               summary.p99_s)))
    table.add_row("images/s", f"{summary.images_per_s:.2f}")
    table.add_row("queue share (Triton: queue / request time)", share(summary.queue_share))
    if summary.sla_s is not None:
        table.add_row(f"within SLA {summary.sla_s:g}s", share(summary.within_sla))
    for example in summary.error_examples:
        table.add_row("error", example)
    return table


def plan_table(given: planner.PlanInput, result: planner.Plan, time_source: planner.ServiceTime) -> Table:
    """``diffusion plan``: the recommended replicas, what they cost, and how sure the service time is."""
    table = Table("", "value", title=f"plan: {given.rate:g} images/s peak, {given.quantile:.0%} wait <= "
                  f"{given.sla_s:g}s on {given.gpu}")
    table.add_row("service time / image", f"{time_source.seconds:.3f}s" + ("" if time_source.measured else
                                                                          " (estimate)"))
    table.add_row("replicas needed at peak", str(result.replicas_at_peak))
    table.add_row("minReplicas / maxReplicas", f"{result.min_replicas} / {result.max_replicas}")
    table.add_row("utilization at peak", f"{result.utilization_at_peak:.0%}")
    table.add_row("SLA met at peak (needed / max)",
                  f"{result.attainment_at_peak:.2%} / {result.attainment_with_max:.2%}")
    table.add_row("mean queue wait at peak", f"{result.mean_wait_at_peak_s:.3f}s")
    table.add_row("GPU-h / 1k images (peak / busy)",
                  f"{result.gpu_hours_per_1000_at_peak:.2f} / {result.gpu_hours_per_1000_floor:.2f}")
    dollars = ("- (needs --price)" if result.dollars_per_1000_at_peak is None else
               f"${result.dollars_per_1000_at_peak:.2f} / ${result.dollars_per_1000_floor or 0:.2f}")
    table.add_row("$ / 1k images (peak / busy)", dollars)
    return table


def status_table(objects: Iterable[dict[str, Any]]) -> Table:
    """``diffusion status``: one row per DiffusionService."""
    table = Table(*COLUMNS)
    for obj in objects:
        table.add_row(*row(obj))
    return table

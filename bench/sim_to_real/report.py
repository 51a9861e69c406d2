"""Real vs predicted, side by side: the figures, the gap, and a plot of both replica timelines."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib  # noqa: TID253 - the report is a plot

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: TID253
import numpy as np

from bench.sim_to_real import settings
from bench.sim_to_real.predict import Prediction
from bench.sim_to_real.real_fleet import RealRun


@dataclass(frozen=True)
class Figures:
    requests: int
    failed: int
    within_sla_pct: float
    p50_wait_s: float
    p99_wait_s: float
    pod_seconds: float
    goodput_per_gpu_hour: float  # uncompressed: requests within SLA per (pod-seconds x compression) hour
    peak_ready: int


def measured_mask(run: RealRun) -> np.ndarray:
    """The requests of the trace proper (the warm-up's are left out)."""
    return np.asarray(run.arrivals >= settings.WARMUP_S)


def figures(waits: np.ndarray, pod_seconds: float, peak_ready: int) -> Figures:
    ok = np.isfinite(waits)
    good = int(np.sum(waits[ok] <= settings.SLA_S))
    gpu_hours = pod_seconds * settings.COMPRESSION / 3600
    return Figures(
        requests=len(waits), failed=int(np.sum(~ok)), within_sla_pct=round(100.0 * good / max(len(waits), 1), 2),
        p50_wait_s=round(float(np.quantile(waits[ok], 0.5)), 3) if ok.any() else float("nan"),
        p99_wait_s=round(float(np.quantile(np.where(ok, waits, np.inf), 0.99, method="inverted_cdf")), 3),
        pod_seconds=round(pod_seconds, 1), goodput_per_gpu_hour=round(good / gpu_hours, 1) if gpu_hours else 0.0,
        peak_ready=peak_ready,
    )


def real_figures(run: RealRun) -> Figures:
    mask = measured_mask(run)
    window = (settings.WARMUP_S, settings.WARMUP_S + len(settings.intensity()))
    t = np.asarray(run.timeline.t)
    inside = (t >= window[0]) & (t < window[1])
    peak = int(np.max(np.asarray(run.timeline.ready)[inside])) if inside.any() else 0
    return figures(run.load.waits[mask], run.timeline.pod_seconds(*window), peak)


def predicted_figures(run: RealRun, prediction: Prediction) -> Figures:
    t = np.asarray(prediction.timeline["t"])
    inside = (t >= settings.WARMUP_S) & (t < settings.WARMUP_S + len(settings.intensity()))
    peak = int(np.max(np.asarray(prediction.timeline["ready"])[inside])) if inside.any() else 0
    return figures(prediction.waits[measured_mask(run)], prediction.pod_seconds, peak)


def mean_figures(each: list[Figures]) -> Figures:
    """The seeds' mean of every figure (the simulator's own noise shows in the within-SLA range)."""
    def mean(name: str) -> float:
        return statistics.fmean(getattr(f, name) for f in each)

    return Figures(requests=each[0].requests, failed=round(mean("failed")),
                   within_sla_pct=round(mean("within_sla_pct"), 2), p50_wait_s=round(mean("p50_wait_s"), 3),
                   p99_wait_s=round(mean("p99_wait_s"), 3), pod_seconds=round(mean("pod_seconds"), 1),
                   goodput_per_gpu_hour=round(mean("goodput_per_gpu_hour"), 1), peak_ready=round(mean("peak_ready")))


def replica_gap(run: RealRun, prediction: Prediction) -> float:
    """Mean |ready replicas real - predicted| over the trace, on a 1 s grid (each a step function)."""
    grid = np.arange(settings.WARMUP_S, settings.WARMUP_S + len(settings.intensity()), 1.0)

    def at(times: list[float], values: list[float]) -> np.ndarray:
        index = np.searchsorted(np.asarray(times), grid, side="right") - 1
        return np.asarray(values, dtype=float)[np.clip(index, 0, len(values) - 1)]

    real = at(run.timeline.t, [float(v) for v in run.timeline.ready])
    predicted = at(prediction.timeline["t"], prediction.timeline["ready"])
    return round(float(np.mean(np.abs(real - predicted))), 2)


#: Width of the bins the HPA's metric is compared in (compressed seconds: 5 HPA windows, 20 syncs).
HPA_BIN_S = 30


def bin_means(times: list[float], values: list[float | None], start: float, end: float,
              width: float) -> list[float | None]:
    """The mean of the samples in each ``width`` bin of [start, end); None where a bin has none."""
    bins = math.ceil((end - start) / width)
    sums, counts = [0.0] * bins, [0] * bins
    for t, value in zip(times, values, strict=True):
        if value is not None and start <= t < end:
            index = int((t - start) // width)
            sums[index] += value
            counts[index] += 1
    return [total / n if n else None for total, n in zip(sums, counts, strict=True)]


def hpa_metric_table(run: RealRun, predictions: list[Prediction]) -> list[str]:
    """The real HPA's metric and decisions against the simulated ones', per ``HPA_BIN_S`` of the trace:
    where the two HPAs saw different queues, the table shows when and by how much."""
    status = run.timeline.hpa_status
    simulated = [p for p in predictions if p.routing == "random" and p.hpa_syncs]
    if not status or not simulated:
        return []
    start, end = settings.WARMUP_S, settings.WARMUP_S + len(settings.intensity())

    def bins(times: list[float], values: list[float | None]) -> list[float | None]:
        return bin_means(times, values, start, end, HPA_BIN_S)

    real_t = [float(s["t"]) for s in status]
    real_ms = bins(real_t, [None if s["average_us"] is None else s["average_us"] / 1000 for s in status])
    real_desired = bins(real_t, [s["desired"] for s in status])
    sim_ms = [bins([t for t, _, _ in p.hpa_syncs], [None if a is None else a / 1000 for _, a, _ in p.hpa_syncs])
              for p in simulated]
    sim_desired = [bins([t for t, _, _ in p.hpa_syncs], [float(r) for _, _, r in p.hpa_syncs]) for p in simulated]

    def ensemble(columns: list[list[float | None]], i: int) -> list[float]:
        return [value for column in columns if (value := column[i]) is not None]

    def cell(value: float | None, digits: int) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    lines = ["", f"The HPA's own view, per {HPA_BIN_S} s of the trace: the metric its status reports (the per-pod "
             "queue time per request, averaged over the pods with one; ms) and the replicas it decided, real vs "
             f"the {len(simulated)} simulated runs (mean (min-max)).", "",
             "| trace seconds | real metric | simulated metric | real decided | simulated decided |",
             "|---|---:|---:|---:|---:|"]
    for i, real_value in enumerate(real_ms):
        metric, decided = ensemble(sim_ms, i), ensemble(sim_desired, i)
        sim_metric = f"{statistics.fmean(metric):.0f}{_range(metric, 0)}" if metric else ""
        sim_decided = f"{statistics.fmean(decided):.1f}{_range(decided, 1)}" if decided else ""
        lines.append(f"| {i * HPA_BIN_S}-{(i + 1) * HPA_BIN_S} | {cell(real_value, 0)} | {sim_metric} "
                     f"| {cell(real_desired[i], 1)} | {sim_decided} |")
    return lines


def share_at_or_below(value: float, ensemble: list[float]) -> float:
    """The share of the simulated runs at or below the real value (0.5: the real run is the ensemble's median)."""
    return sum(v <= value for v in ensemble) / len(ensemble)


def _range(values: list[float], digits: int) -> str:
    return f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else ""


def write(runs: list[tuple[RealRun, list[Prediction]]], out_dir: Path) -> str:
    """``sim_to_real.json``, ``.md`` and ``.png`` under ``out_dir``; returns the markdown."""
    rows: list[tuple[str, str, Figures, str, str, float | None]] = []
    places: list[str] = []
    data: list[dict[str, Any]] = []
    for run, predictions in runs:
        real = real_figures(run)
        entry: dict[str, Any] = {"scaler": run.scaler, "real": asdict(real), "errors": run.load.errors[:20],
                                 "cold_starts_s": run.timeline.cold_starts(), "predicted": {}}
        rows.append((run.scaler, "real", real, f"{real.within_sla_pct:.2f} %", f"{real.pod_seconds:.0f}", None))
        for routing in dict.fromkeys(p.routing for p in predictions):
            group = [p for p in predictions if p.routing == routing]
            each = [predicted_figures(run, p) for p in group]
            gap = round(statistics.fmean(replica_gap(run, p) for p in group), 2)
            mean = mean_figures(each)
            shares = [f.within_sla_pct for f in each]
            pod_seconds = [f.pod_seconds for f in each]
            entry["predicted"][routing] = {
                "runs": [{"seed": p.seed, "sync_offset_s": p.sync_offset_s} for p in group], "mean": asdict(mean),
                "each": [asdict(f) for f in each], "mean_ready_replica_gap": gap,
                "real_at_or_above_share": {"within_sla_pct": share_at_or_below(real.within_sla_pct, shares),
                                           "pod_seconds": share_at_or_below(real.pod_seconds, pod_seconds)}}
            seeds, offsets = {p.seed for p in group}, {p.sync_offset_s for p in group}
            label = (f"simulated ({routing})" if len(group) == 1
                     else f"simulated ({routing}, {len(seeds)} seeds x {len(offsets)} tick phases)")
            rows.append((run.scaler, label, mean, f"{mean.within_sla_pct:.2f} %{_range(shares, 2)}",
                         f"{mean.pod_seconds:.0f}{_range(pod_seconds, 0)}", gap))
            if len(group) > 1:
                below_share = sum(v <= real.within_sla_pct for v in shares)
                below_pods = sum(v <= real.pod_seconds for v in pod_seconds)
                places.append(f"- {run.scaler}: the real run's within-SLA share is at or above {below_share} of the "
                              f"{len(group)} simulated {routing} runs', its pod-seconds at or above {below_pods}.")
        data.append(entry)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sim_to_real.json").write_text(json.dumps(data, indent=2) + "\n")
    _plot(runs, out_dir / "sim_to_real.png")
    lines = [
        f"Trace: {settings.intensity.__doc__} Compressed {settings.COMPRESSION:g}x: 0.9 s per image, "
        f"queue SLA {settings.SLA_S:g} s, warm-up {settings.WARMUP_S:g} s left out; GPU-hours uncompressed. "
        "Ensembles: mean (min-max).",
        "",
        "| scaler | fleet | requests | failed | within SLA | p50 wait | p99 wait | pod-seconds | goodput / GPU-h "
        "| peak ready | mean ready-replica gap |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scaler, fleet, f, share, pods, gap_or_none in rows:
        gap_text = "" if gap_or_none is None else f"{gap_or_none:.2f}"
        lines.append(f"| {scaler} | {fleet} | {f.requests} | {f.failed} | {share} "
                     f"| {f.p50_wait_s:.3f} s | {f.p99_wait_s:.3f} s | {pods} "
                     f"| {f.goodput_per_gpu_hour:.0f} | {f.peak_ready} | {gap_text} |")
    if places:
        lines += ["", "Where each real run falls in its simulated ensemble:", *places]
    for run, predictions in runs:
        lines += hpa_metric_table(run, predictions)
    markdown = "\n".join(lines) + "\n"
    (out_dir / "sim_to_real.md").write_text(markdown)
    return markdown


def _plot(runs: list[tuple[RealRun, list[Prediction]]], path: Path) -> None:
    with_hpa = [(run, predictions) for run, predictions in runs if run.timeline.hpa_status]
    fig, axes = plt.subplots(len(runs) + len(with_hpa), 1, figsize=(10, 3.2 * (len(runs) + len(with_hpa))),
                             squeeze=False)
    for axis, (run, predictions) in zip(axes[:, 0], runs, strict=False):
        axis.step(run.timeline.t, run.timeline.ready, where="post", label="real: Ready pods", color="black")
        for prediction in {p.routing: p for p in reversed(predictions)}.values():  # each routing's first seed
            axis.step(prediction.timeline["t"], prediction.timeline["ready"], where="post",
                      label=f"simulated ({prediction.routing})", alpha=0.8)
        axis.axvline(settings.WARMUP_S, color="grey", linestyle=":")
        axis.set_title(f"{run.scaler}: Ready replicas, real vs simulated")
        axis.set_xlabel("seconds (compressed)")
        axis.legend(loc="upper left", fontsize=8)
    for axis, (run, predictions) in zip(axes[len(runs):, 0], with_hpa, strict=True):
        status = [s for s in run.timeline.hpa_status if s["average_us"] is not None]
        axis.step([s["t"] for s in status], [max(s["average_us"] / 1000, 1.0) for s in status], where="post",
                  label="real HPA's status", color="black")
        simulated = next(p for p in predictions if p.routing == "random")
        syncs = [(t, a) for t, a, _ in simulated.hpa_syncs if a is not None]
        axis.step([t for t, _ in syncs], [max(a / 1000, 1.0) for _, a in syncs], where="post",
                  label=f"simulated (random, seed {simulated.seed}, phase {simulated.sync_offset_s:g} s)", alpha=0.8)
        axis.axhline(settings.SLA_S * 1000, color="grey", linestyle="--", label="target (the SLA)")
        axis.axvline(settings.WARMUP_S, color="grey", linestyle=":")
        axis.set_yscale("log")
        axis.set_title(f"{run.scaler}: the HPA's metric (queue ms per request, per-pod average; floor 1 ms)")
        axis.set_xlabel("seconds (compressed)")
        axis.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)

"""Real vs predicted, side by side: the figures, the gap, and a plot of both replica timelines."""

from __future__ import annotations

import json
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
                n = len(group)
                below_share = round(share_at_or_below(real.within_sla_pct, shares) * n)
                below_pods = round(share_at_or_below(real.pod_seconds, pod_seconds) * n)
                places.append(f"- {run.scaler}: the real run's within-SLA share is at or above {below_share} of the "
                              f"{n} simulated {routing} runs', its pod-seconds at or above {below_pods}.")
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
    markdown = "\n".join(lines) + "\n"
    (out_dir / "sim_to_real.md").write_text(markdown)
    return markdown


def _plot(runs: list[tuple[RealRun, list[Prediction]]], path: Path) -> None:
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.2 * len(runs)), squeeze=False)
    for axis, (run, predictions) in zip(axes[:, 0], runs, strict=True):
        axis.step(run.timeline.t, run.timeline.ready, where="post", label="real: Ready pods", color="black")
        for prediction in {p.routing: p for p in reversed(predictions)}.values():  # each routing's first seed
            axis.step(prediction.timeline["t"], prediction.timeline["ready"], where="post",
                      label=f"simulated ({prediction.routing})", alpha=0.8)
        axis.axvline(settings.WARMUP_S, color="grey", linestyle=":")
        axis.set_title(f"{run.scaler}: Ready replicas, real vs simulated")
        axis.set_xlabel("seconds (compressed)")
        axis.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)

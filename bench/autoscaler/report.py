"""Render the benchmark: a markdown table, a JSON file and a PNG of replicas over time."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.autoscaler.fleet import SimResult
from bench.autoscaler.run import Row
from bench.autoscaler.traces import Trace

OURS, ORACLE = "ours", "oracle"
HPA_BASELINES = ("hpa (target=SLA)", "hpa (chart 50us)")


def goals(rows: list[Row]) -> list[dict[str, object]]:
    """The issue's goals, checked per trace with the numbers that decide them."""
    checks: list[dict[str, object]] = []
    for trace in dict.fromkeys(r.trace for r in rows):
        by = {r.scaler: r for r in rows if r.trace == trace}
        ours, oracle = by[OURS], by[ORACLE]
        check: dict[str, object] = {
            "trace": trace,
            "within_sla_ge_99": ours.within_sla_pct >= 99.0,
            "gpu_vs_oracle": round(ours.gpu_hours / oracle.gpu_hours, 3),
            "gpu_le_1_15x_oracle": ours.gpu_hours <= 1.15 * oracle.gpu_hours,
        }
        for name in HPA_BASELINES:
            hpa = by[name]
            fewer = 1 - ours.violations / hpa.violations if hpa.violations else 0.0
            check[f"violations_cut_vs_{name}"] = round(fewer, 3)
            check[f"beats_{name}"] = fewer >= 0.5 and ours.gpu_hours <= hpa.gpu_hours
        checks.append(check)
    return checks


def markdown(rows: list[Row], checks: list[dict[str, object]], header: str) -> str:
    lines = [header, "",
             "| trace | scaler | requests | within SLA | violations | p99 queue wait | GPU-hours | x oracle "
             "| scale events |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    oracle = {r.trace: r.gpu_hours for r in rows if r.scaler == ORACLE}
    for r in rows:
        lines.append(f"| {r.trace} | {r.scaler} | {r.requests} | {r.within_sla_pct:.2f} % | {r.violations} | "
                     f"{r.p99_wait_s:.1f} s | {r.gpu_hours:.1f} | {r.gpu_hours / oracle[r.trace]:.2f} | "
                     f"{r.scale_events} |")
    lines += ["", "Goals (ours): ≥ 99 % within SLA; ≤ 1.15x oracle GPU-hours; ≥ 50 % fewer violations than "
              "the HPA at no more GPU-hours.", "",
              "| trace | ≥ 99 % | GPU x oracle | ≤ 1.15x | violations cut vs HPA (SLA target) | beats it | "
              "violations cut vs HPA (chart 50 µs) | beats it |", "|---|---|---:|---|---:|---|---:|---|"]
    for c in checks:
        lines.append(
            f"| {c['trace']} | {_yes(c['within_sla_ge_99'])} | {c['gpu_vs_oracle']} | "
            f"{_yes(c['gpu_le_1_15x_oracle'])} | "
            f"{_pct(c['violations_cut_vs_hpa (target=SLA)'])} | {_yes(c['beats_hpa (target=SLA)'])} | "
            f"{_pct(c['violations_cut_vs_hpa (chart 50us)'])} | {_yes(c['beats_hpa (chart 50us)'])} |")
    return "\n".join(lines) + "\n"


def _yes(value: object) -> str:
    return "yes" if value else "**no**"


def _pct(value: object) -> str:
    return f"{100 * float(str(value)):.0f} %"


def write_json(path: Path, rows: list[Row], checks: list[dict[str, object]], settings: dict[str, object]) -> None:
    payload = {"settings": settings, "rows": [asdict(r) for r in rows], "goals": checks}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def plot(path: Path, traces: list[Trace], results: dict[tuple[str, str], SimResult]) -> None:
    fig, axes = plt.subplots(len(traces), 1, figsize=(11, 3.2 * len(traces)), squeeze=False)
    for ax, trace in zip(axes[:, 0], traces, strict=True):
        for (name, scaler), result in results.items():
            if name != trace.name:
                continue
            hours = [t / 3600 for t in result.timeline["t"]]
            style = {"oracle": "k--", "ours": "C0-"}.get(scaler, "-")
            ours = scaler.startswith("ours") or scaler == ORACLE
            ax.plot(hours, result.timeline["spec"], style, label=scaler, linewidth=1.3 if ours else 0.7,
                    alpha=1.0 if ours else 0.55)
        load = ax.twinx()
        load.fill_between([i / 3600 for i in range(len(trace.intensity))], trace.intensity, color="0.85",
                          step="post", zorder=0)
        load.set_ylabel("arrivals (req/s)")
        ax.set_zorder(load.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_title(f"{trace.name}: {trace.description}")
        ax.set_ylabel("replicas")
        ax.set_xlabel("hours")
        ax.legend(loc="upper left", fontsize=7, ncol=5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

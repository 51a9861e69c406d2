"""``python -m bench.autoscaler.bounds``: what no reactive scaler can beat on the burst traces.

A *reactive* scaler learns of a burst only once it has started. The best one imaginable knows the load
intensity *now* exactly (no scrape, no rate window, no estimate), orders ``level`` replicas at the first
evaluation a burst is on, keeps them while it lasts and ``hold_s`` longer, and otherwise runs exactly
what the capacity model says the current load needs (plus a standing ``headroom``, if any). Whatever it
loses in a burst's first cold start, every real reactive policy loses too (given the same standing
fleet); its GPU-hours for a given hold or headroom show what spare capacity between bursts costs. Same
fleet model, traces, seed and cold start as the benchmark.

Writes bench/results/autoscaler-bounds.md and prints it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.autoscaler import traces
from bench.autoscaler.fleet import ClusterView
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.run import run_one
from bench.autoscaler.scalers import OracleScaler

RESULTS = Path(__file__).resolve().parent.parent / "results"
BURST_TRACES = ("step_burst", "poisson_spikes")
HOLDS_S = (0.0, 600.0, 1200.0, 2400.0, float("inf"))
HEADROOM = (0, 8, 16, 24)  # replicas standing above the need at all times (headroom sized in advance)
SLA_SHARE = 0.99


@dataclass
class ClairvoyantNow:
    """Knows the intensity now (not the future); a burst is anything above the trace's lowest level."""

    need: list[int]
    intensity: np.ndarray
    level: int
    hold_s: float
    headroom: int = 0
    until: float = -1.0

    def __call__(self, view: ClusterView) -> int:
        second = int(view.now)
        if self.intensity[second] > self.intensity.min():
            self.until = view.now + self.hold_s
        return self.level if view.now <= self.until else self.need[second] + self.headroom


def burst_starts(trace: traces.Trace) -> list[int]:
    rate = trace.intensity
    return [i for i in range(1, len(rate)) if rate[i] > rate[i - 1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    config = FleetConfig()
    lines = [
        "Reactive bounds: a scaler that knows the load *now* exactly (no foresight), orders `level` "
        "replicas at the first evaluation a burst is on and keeps them while it lasts + `hold`; "
        "otherwise the capacity model's need now + a standing `headroom`. Levels: the burst's need, "
        "that + the base fleet its backlog ties up, max_replicas. Fleet as in autoscaler.md (cold start "
        f"{config.cold_start_s:g} s, SLA {config.sla_s:g} s), seed 7.",
        "",
        "| trace | level | hold | headroom | within SLA | violations | allowed for 99 % | violations in "
        "each burst's first 4 min | GPU-hours | x oracle |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name in BURST_TRACES:
        trace = traces.build(name, seed=7)
        oracle_row, _ = run_one(trace, config, "oracle", OracleScaler.for_trace)
        need = OracleScaler.for_trace(trace, config).schedule
        base, peak = min(need), max(need)
        starts = burst_starts(trace)
        allowed = int((1 - SLA_SHARE) * len(trace.arrivals))
        holds = HOLDS_S if len(starts) > 1 else (0.0,)  # one burst: nothing to hold for
        cases = [(level, hold, 0) for level in (peak, peak + base, config.max_replicas) for hold in holds]
        cases += [(peak + base, 0.0, headroom) for headroom in HEADROOM[1:]]
        for level, hold, headroom in cases:
            row, result = run_one(
                trace,
                config,
                "bound",
                lambda t, c, n=need, lv=level, h=hold, e=headroom: ClairvoyantNow(n, t.intensity, lv, h, e),
            )
            missed = result.waits > config.sla_s
            per_burst = [int(missed[(trace.arrivals >= s) & (trace.arrivals < s + 240)].sum()) for s in starts]
            hold_text = "forever" if hold == float("inf") else f"{hold:g} s"
            lines.append(
                f"| {name} | {level} | {hold_text} | {headroom} | {row.within_sla_pct:.2f} % | "
                f"{row.violations} | {allowed} | {', '.join(map(str, per_burst))} | "
                f"{row.gpu_hours:.1f} | {row.gpu_hours / oracle_row.gpu_hours:.2f} |"
            )
    table = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "autoscaler-bounds.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

"""``python -m bench.autoscaler.bounds``: what no reactive scaler can beat on the burst traces.

A *reactive* scaler learns of a burst only once it has started. The best one imaginable knows the load
intensity *now* exactly (no scrape, no rate window, no estimate), orders ``level`` replicas at the first
evaluation a burst is on, keeps them while it lasts and ``hold_s`` longer, and otherwise runs exactly
what the capacity model says the current load needs (plus a standing ``headroom``, if any). Whatever it
loses in a burst's first cold start, every real reactive policy loses too (given the same standing
fleet); its GPU-hours for a given hold or headroom show what spare capacity between bursts costs. Same
fleet model, traces, seed and cold start as the benchmark.

With the speed tier, the same scaler also switches the tier on *instantly*: from each burst's
first second (no signal to wait for) until the capacity it ordered for that burst is Ready, at a given
floor of steps (``min_steps`` of the 30 default; pinned requests keep theirs, as in the benchmark).
That is the most any reactive tier policy with that floor can add, so the second table shows the best a
real one can reach and the highest floor (the fewest steps spared) that would reach 99 %, with the
share of images each degrades. The same bound knowing each burst one scrape late shows what a
Prometheus-fed scaler can reach at best, and a third table runs the real policy at those floors.

Writes bench/results/autoscaler-bounds.md and prints it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from diffusion_operator.autoscaling.speed_tier import SpeedTierPolicy

from bench.autoscaler import traces
from bench.autoscaler.fleet import ClusterView
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.run import Row, ScalerFactory, run_one
from bench.autoscaler.scalers import PIPELINE_STEPS, OracleScaler, OurScaler, default_policy

RESULTS = Path(__file__).resolve().parent.parent / "results"
BURST_TRACES = ("step_burst", "poisson_spikes")
HOLDS_S = (0.0, 600.0, 1200.0, 2400.0, float("inf"))
HEADROOM = (0, 8, 16, 24)  # replicas standing above the need at all times (headroom sized in advance)
SLA_SHARE = 0.99
TIER_FLOORS = (20, 15, 10)  # spec.autoscaling.overload.minSteps: the CRD's default, then lower
OURS_FLOORS = (*TIER_FLOORS, 5, 1)
PINNED_PCT = round(100 * traces.PINNED_SHARE)


@dataclass
class ClairvoyantNow:
    """Knows the intensity now (not the future); a burst is anything above the trace's lowest level.

    ``late_s`` > 0 makes it know everything that much later: a Prometheus-fed scaler sees a burst no
    sooner than the first scrape after it started (15 s here) and acts at the sync after that.
    """

    need: list[int]
    intensity: np.ndarray
    level: int
    hold_s: float
    headroom: int = 0
    late_s: int = 0
    until: float = -1.0

    def known(self, now: float) -> int:
        """The second whose load this scaler knows at ``now``."""
        return min(max(int(now) - self.late_s, 0), len(self.intensity) - 1)

    def bursting(self, now: float) -> bool:
        return bool(self.intensity[self.known(now)] > self.intensity.min())

    def __call__(self, view: ClusterView) -> int:
        if self.bursting(view.now):
            self.until = view.now + self.hold_s
        return self.level if view.now <= self.until else self.need[self.known(view.now)] + self.headroom


@dataclass
class ClairvoyantTier(ClairvoyantNow):
    """ClairvoyantNow plus an instant speed tier: each burst is served at ``factor`` of the full steps'
    work from the second it is known until the capacity ordered at its first evaluation is Ready.

    A burst met with the level already standing (held from the last one) orders nothing, so its tier
    ends at that first evaluation. The fleet asks ``step_factor_at`` at every batch start.
    """

    factor: float = 1.0
    cold_start_s: float = 0.0
    tier_until: float = -1.0
    seen_burst: bool = False  # the burst on now has had its first evaluation

    def __call__(self, view: ClusterView) -> int:
        on = self.bursting(view.now)
        if on and not self.seen_burst:
            orders = view.spec_replicas < self.level
            self.tier_until = view.now + self.cold_start_s if orders else view.now
        self.seen_burst = on
        return super().__call__(view)

    def step_factor_at(self, now: float) -> float:
        unseen_burst = self.bursting(now) and not self.seen_burst
        return self.factor if unseen_burst or now < self.tier_until else 1.0


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
    tier_lines = [
        "",
        "With the speed tier: the same scaler (level = the burst's need + the base fleet, no headroom) "
        "also serves every burst with `min steps` of 30 from the second it knows of it until the capacity "
        "it ordered is Ready (an instant tier: no real one switches sooner). 20 is the CRD's default floor. "
        f"{PINNED_PCT} % of requests pin their steps and keep them; the rows without pinned requests replay "
        "the same arrivals with none pinned. **Bold**: the highest floor that reaches 99 % (or, where none "
        f"does, 1 step). *Knows*: at once, or one scrape ({config.scrape_interval_s:g} s) late, the soonest "
        "a scaler reading Prometheus can see a burst (it then acts at the next sync, as ours does).",
        "",
        "| trace | hold | knows | min steps | within SLA | violations | allowed for 99 % | violations in each "
        "burst's first 4 min | degraded | GPU-hours | x oracle |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    ours_lines = [
        "",
        "The real policy (`ours + speed tier`: the operator's defaults, burst memory included) at the same "
        "floors and lower:",
        "",
        "| trace | min steps | within SLA | violations | allowed for 99 % | violations in each burst's first "
        "4 min | degraded | GPU-hours | x oracle |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    notes: list[str] = []
    for name in BURST_TRACES:
        bound = Bound(traces.build(name, seed=7), config)
        lines += reactive_rows(bound)
        tier_lines += tier_rows(bound)
        notes.append(bound.pinned_note())
        for steps in OURS_FLOORS:
            policy = replace(default_policy(config), speed_tier=SpeedTierPolicy(steps, PIPELINE_STEPS))
            outcome = bound.run(lambda t, c, p=policy: OurScaler(p))
            ours_lines.append(f"| {name} | {steps} | {outcome.cells(degraded=True)} |")
    tier_lines += ["", "Until the ordered capacity is Ready only the base fleet serves, and no floor touches "
                   "the pinned requests:", "", *notes]
    table = "\n".join(lines + tier_lines + ours_lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "autoscaler-bounds.md").write_text(table)
    print(table)


def reactive_rows(bound: Bound) -> list[str]:
    """Levels x holds without headroom, then the burst's level with growing headroom."""
    levels = (bound.peak, bound.peak + bound.base, bound.config.max_replicas)
    holds = HOLDS_S if len(bound.starts) > 1 else (0.0,)  # one burst: nothing to hold for
    cases = [(level, hold, 0) for level in levels for hold in holds]
    cases += [(bound.peak + bound.base, 0.0, headroom) for headroom in HEADROOM[1:]]
    rows = []
    for level, hold, headroom in cases:
        outcome = bound.run(lambda t, c, lv=level, h=hold, e=headroom: ClairvoyantNow(bound.need, t.intensity,
                                                                                       lv, h, e))
        rows.append(f"| {bound.trace.name} | {level} | {_hold(hold)} | {headroom} | {outcome.cells()} |")
    return rows


def tier_rows(bound: Bound) -> list[str]:
    """The floors at once (as given and without pinned requests), then 30 and 20 steps a scrape late."""
    holds = (0.0, float("inf")) if len(bound.starts) > 1 else (0.0,)
    name, late = bound.trace.name, int(bound.config.scrape_interval_s)
    scenarios = [(name, bound, hold) for hold in holds]
    if len(bound.starts) == 1:
        unpinned = replace(bound.trace, pinned=np.zeros(len(bound.trace.arrivals), dtype=bool))
        scenarios.append((f"{name}, no pinned requests", Bound(unpinned, bound.config), 0.0))
    rows = []
    for label, scenario, hold in scenarios:
        for steps, outcome, needed in scenario.tier_floors(hold):
            mark = "**" if needed else ""
            rows.append(f"| {label} | {_hold(hold)} | at once | {mark}{steps}{mark} | "
                        f"{outcome.cells(degraded=True)} |")
    for hold in holds:
        for steps in (PIPELINE_STEPS, TIER_FLOORS[0]):
            outcome = bound.with_tier(steps, hold, late_s=late)
            rows.append(f"| {name} | {_hold(hold)} | {late} s late | {steps} | {outcome.cells(degraded=True)} |")
    return rows


@dataclass
class Outcome:
    row: Row
    allowed: int
    per_burst: list[int]
    oracle_gpu_hours: float

    def cells(self, *, degraded: bool = False) -> str:
        row = self.row
        share = f" {row.degraded_pct:.2f} % |" if degraded else ""
        return (f"{row.within_sla_pct:.2f} % | {row.violations} | {self.allowed} | "
                f"{', '.join(map(str, self.per_burst))} |{share} {row.gpu_hours:.1f} | "
                f"{row.gpu_hours / self.oracle_gpu_hours:.2f}")


class Bound:
    """One trace's runs: the oracle's need and GPU-hours, the burst starts, the 99 % allowance."""

    def __init__(self, trace: traces.Trace, config: FleetConfig) -> None:
        self.trace, self.config = trace, config
        oracle_row, _ = run_one(trace, config, "oracle", OracleScaler.for_trace)
        self.oracle_gpu_hours = oracle_row.gpu_hours
        self.need = OracleScaler.for_trace(trace, config).schedule
        self.base, self.peak = min(self.need), max(self.need)
        self.starts = burst_starts(trace)
        self.allowed = int((1 - SLA_SHARE) * len(trace.arrivals))

    def run(self, factory: ScalerFactory) -> Outcome:
        row, result = run_one(self.trace, self.config, "bound", factory)
        missed = result.waits > self.config.sla_s
        arrivals = self.trace.arrivals
        per_burst = [int(missed[(arrivals >= s) & (arrivals < s + 240)].sum()) for s in self.starts]
        return Outcome(row, self.allowed, per_burst, self.oracle_gpu_hours)

    def with_tier(self, steps: int, hold: float, late_s: int = 0) -> Outcome:
        level, factor, cold = self.peak + self.base, steps / PIPELINE_STEPS, self.config.cold_start_s
        return self.run(lambda t, c: ClairvoyantTier(self.need, t.intensity, level, hold, 0, late_s,
                                                     factor=factor, cold_start_s=cold))

    def pinned_note(self) -> str:
        """Whether the base fleet could keep up with the burst's pinned requests alone, at any floor."""
        curve, trace = self.config.curve, self.trace
        serves = self.base * curve.max_batch_size / curve.execution_s(curve.max_batch_size)
        peak = float(trace.intensity.max())
        share = float(trace.pinned.mean()) if trace.pinned is not None else 0.0
        verdict = "no floor can keep up" if peak * share > serves else "a low enough floor keeps up"
        return (f"- {trace.name}: the base fleet ({self.base} pods) serves at most {serves:.2f} full-step "
                f"requests/s (batches of {curve.max_batch_size}); the burst's pinned requests alone arrive at "
                f"{peak * share:.2f}/s ({100 * share:.0f} % of {peak:g} req/s): {verdict}.")

    def tier_floors(self, hold: float) -> list[tuple[int, Outcome, bool]]:
        """Full steps, the listed floors, then the highest floor below them that reaches 99 % (or 1 step).

        The flag marks the highest floor that reaches 99 %, or 1 step when none does.
        """
        rows = [(steps, self.with_tier(steps, hold)) for steps in (PIPELINE_STEPS, *TIER_FLOORS)]
        reached = [steps for steps, outcome in rows[1:] if outcome.row.within_sla_pct >= 100 * SLA_SHARE]
        for steps in range(min(TIER_FLOORS) - 1, 0, -1) if not reached else ():
            outcome = self.with_tier(steps, hold)
            rows.append((steps, outcome))
            if outcome.row.within_sla_pct >= 100 * SLA_SHARE or steps == 1:
                reached.append(steps)
                break
        needed = max(reached)
        return [(steps, outcome, steps == needed) for steps, outcome in rows]


def _hold(hold: float) -> str:
    return "forever" if hold == float("inf") else f"{hold:g} s"


if __name__ == "__main__":
    main()

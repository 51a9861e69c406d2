"""``python -m bench.autoscaler``: replay every trace under every scaler and publish the results.

Writes bench/results/autoscaler.{json,md,png} and prints the markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.autoscaler import traces
from bench.autoscaler.fleet import SimResult
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.report import goals, markdown, plot, update_docs, write_json
from bench.autoscaler.run import Row, run_one, scaler_factories

RESULTS = Path(__file__).resolve().parent.parent / "results"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", default=",".join([*traces.TRACES, *traces.OUTAGES]),
                        help="comma-separated trace names")
    parser.add_argument("--node-provisioning", action="store_true",
                        help="new pods beyond the warm nodes wait 4-7 min for a GPU node")
    parser.add_argument("--termination-s", type=float, default=0.0,
                        help="a removed pod holds its GPU at least this long (preStop sleep + Triton's shutdown)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    config = FleetConfig(node_provisioning=args.node_provisioning, termination_s=args.termination_s)
    chosen = [traces.build(name, seed=args.seed) for name in args.traces.split(",")]
    rows: list[Row] = []
    results: dict[tuple[str, str], SimResult] = {}
    started = time.monotonic()
    for trace in chosen:
        for name, factory in scaler_factories().items():
            row, result = run_one(trace, config, name, factory)
            rows.append(row)
            results[(trace.name, name)] = result
    checks = goals(rows)
    suffix = "-nodes" if args.node_provisioning else ""
    header = (f"Simulated SDXL 1024²/30 steps on L4 ({config.curve.single_s:g} s/image, batch ≤ "
              f"{config.curve.max_batch_size}), cold start {config.cold_start_s:g} s"
              f"{' + node provisioning 4-7 min' if args.node_provisioning else ''}, queue SLA {config.sla_s:g} s, "
              f"replicas {config.min_replicas}-{config.max_replicas}, scrape/sync {config.scrape_interval_s:g} s, "
              f"seed {args.seed}.")
    table = markdown(rows, checks, header)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"autoscaler{suffix}.md").write_text(table)
    settings = {"fleet": {k: str(v) for k, v in vars(config).items()}, "seed": args.seed,
                "traces": [t.name for t in chosen]}
    write_json(args.out / f"autoscaler{suffix}.json", rows, checks, settings)
    plot(args.out / f"autoscaler{suffix}.png", chosen, results)
    everything = args.traces == parser.get_default("traces")
    if everything and not args.node_provisioning and args.seed == 7 and args.out == RESULTS:
        update_docs(DOCS, rows, checks)
    print(table)
    print(f"({time.monotonic() - started:.0f} s; results in {args.out})")


if __name__ == "__main__":
    main()

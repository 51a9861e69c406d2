"""``python -m engine_builder.training``: retrain the built-in model and rewrite its shipped weights.

Deterministic: one seed drives the data (numpy) and every torch draw (explicit generators); torch
runs with a fixed thread count (results can differ in the last bits between thread counts). The
default of 1 thread is measured: on this shared 2-core machine 2 threads ran 3-5x *slower* per step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine_builder.training.run import SCALES, train_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine_builder.training", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scale", choices=sorted(SCALES), default="xl")
    parser.add_argument("--skip-eval", action="store_true", help="train and save only (no held-out evaluation)")
    args = parser.parse_args(argv)
    command = "python -m engine_builder.training " + " ".join(sys.argv[1:] if argv is None else argv)
    start = time.monotonic()
    manifest = train_all(args.out, seed=args.seed, threads=args.threads, scale=args.scale,
                         command=command.strip(), evaluate=not args.skip_eval,
                         log=lambda line: print(f"[{time.monotonic() - start:7.1f} s] {line}", flush=True))
    print(json.dumps(manifest.get("evaluation", {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How a real-node benchmark writes its runs down: every run, and the median of each figure."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def write_runs(runs: list[dict[str, Any]], out: Path, width: int) -> None:
    """Every run and their median per figure, to ``out`` (JSON) and stdout."""
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs, "median": median}, indent=2) + "\n")
    for key, value in median.items():
        print(f"{key:{width}s} {value:7.2f}")

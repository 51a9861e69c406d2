"""Write the dashboards' JSON into the chart (``tools/generate.py`` calls :func:`generated_files`)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from diffusion_operator.dashboards import assemble, main, operator_dashboard

REPO: Final = Path(__file__).resolve().parents[3]
OUTPUT_DIR: Final = REPO / "charts" / "diffusion-operator" / "dashboards"


def generated_files() -> dict[Path, str]:
    return {
        OUTPUT_DIR / main.FILENAME: assemble.to_json(main.dashboard()),
        OUTPUT_DIR / operator_dashboard.FILENAME: assemble.to_json(operator_dashboard.dashboard()),
    }

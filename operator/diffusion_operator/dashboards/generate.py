"""The dashboards' JSON, by file name (``tools/generate.py`` writes them into the chart's dashboards/)."""

from __future__ import annotations

from diffusion_operator.dashboards import assemble, main, operator_dashboard


def dashboard_files() -> dict[str, str]:
    """File name -> the exact JSON text of each dashboard (deterministic: sorted keys)."""
    return {
        main.FILENAME: assemble.to_json(main.dashboard()),
        operator_dashboard.FILENAME: assemble.to_json(operator_dashboard.dashboard()),
    }

"""A PNG of the main dashboard's key panels, drawn with matplotlib from a real Prometheus.

No Grafana runs here, so this is a stand-in for a screenshot: the panels' own queries (from the
committed JSON, variables filled in) are range-queried and drawn one subplot per panel.

    python -m diffusion_operator.dashboards.preview --prometheus http://127.0.0.1:9090 \\
        --namespace demo --service sdxl --model sdxl --minutes 10 --out docs/images/dashboard-preview.png
"""

from __future__ import annotations

import argparse
import json
import math
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Final

from diffusion_operator.dashboards import api_edge, assemble, main, queries, sla
from diffusion_operator.dashboards import variables as variables_module

#: The panels drawn, in order (titles in the main dashboard).
KEY_PANELS: Final = (
    "Queue latency vs SLA target", "p95 latency (worst pod)", "Images per second",
    "Replicas: desired vs ready", "Pending requests", "Batch size", "Cost per image",
    "Scale decisions by reason",
    "API latency (edge)", "API requests within the latency target", "API requests by status code",
    "Refused: 401 and 429",
)
#: Legends drawn as a dashed red line, as the dashboard's overrides draw them.
TARGET_LEGENDS: Final = frozenset({sla.TARGET_LEGEND, api_edge.TARGET_LEGEND})
Series = list[tuple[str, list[float], list[float]]]


def query_range(prometheus_url: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/query_range?{params}", timeout=10) as response:
        payload = json.loads(response.read())
    if payload.get("status") != "success":
        raise RuntimeError(f"query failed: {payload}")
    return list(payload["data"]["result"])


def fetch(prometheus_url: str, variables: dict[str, str], start: float, end: float,
          step: float = 1.0) -> dict[str, tuple[str, Series]]:
    """Panel title -> (unit, [(legend, times, values)]) for the key panels."""
    board = json.loads(assemble.to_json(main.dashboard()))
    panels: dict[str, tuple[str, Series]] = {}
    for query in queries.panel_queries(board):
        if query.panel not in KEY_PANELS:
            continue
        _, series = panels.setdefault(query.panel, (query.unit, []))
        for result in query_range(prometheus_url, queries.substitute(query.expr, variables), start, end, step):
            points = [(float(t) - start, float(v)) for t, v in result["values"] if math.isfinite(float(v))]
            if points:
                times, values = zip(*points, strict=True)
                series.append((queries.legend(query.legend, result["metric"]), list(times), list(values)))
    return panels


def render(panels: dict[str, tuple[str, Series]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns, rows = 4, math.ceil(len(KEY_PANELS) / 4)
    figure, axes = plt.subplots(rows, columns, figsize=(16, 3.6 * rows), dpi=60, squeeze=False)
    for axis, name in zip(axes.flat, KEY_PANELS, strict=False):
        unit, series = panels.get(name, ("", []))
        axis.set_title(f"{name} [{unit}]" if unit else name, fontsize=10)
        for label, times, values in series:
            dashed = label in TARGET_LEGENDS
            axis.plot(times, values, label=label, linestyle="--" if dashed else "-",
                      color="red" if dashed else None, linewidth=1.2)
        if not series:
            axis.text(0.5, 0.5, "no data", ha="center", va="center", transform=axis.transAxes)
        axis.set_xlabel("seconds", fontsize=8)
        axis.tick_params(labelsize=8)
        top = max((max(values) for _, _, values in series), default=0.0)
        axis.set_ylim(0, top * 1.15 or 1.0)  # the panels set min: 0 too; headroom keeps flat lines visible
        axis.grid(alpha=0.3)
        if series:
            axis.legend(fontsize=7, loc="upper left")
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", pil_kwargs={"optimize": True})
    plt.close(figure)


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--model", default=variables_module.ALL_ENTRY_MODELS,
                        help="the model variable: a model name, or a pattern (default: every entry model)")
    parser.add_argument("--gpu-price-per-hour", default="0.70")
    parser.add_argument("--api-latency-target", default=variables_module.DEFAULT_API_LATENCY_TARGET,
                        help="the API row's latency target, one of the histogram's bounds (default 30.0)")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("docs/images/dashboard-preview.png"))
    args = parser.parse_args()
    end = time.time()
    variables = {"namespace": args.namespace, "service": args.service, "model": args.model,
                 "gpu_price_per_hour": args.gpu_price_per_hour, "api_latency_target": args.api_latency_target}
    panels = fetch(args.prometheus, variables, end - 60 * args.minutes, end, step=max(1.0, args.minutes))
    render(panels, args.out, f"{main.TITLE}: {args.namespace}/{args.service}")


if __name__ == "__main__":
    main_cli()

"""Read the queries back out of a dashboard's JSON and fill in its variables, as Grafana would.

Used by the preview and by the test that runs every panel against a real Prometheus: both start
from the committed JSON, so what is checked is what Grafana gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str
    legend: str
    unit: str


def panel_queries(board: dict[str, Any]) -> list[PanelQuery]:
    """Every target of every panel (rows excluded), in panel order."""
    found = []
    for panel in board["panels"]:
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        for target in panel.get("targets", []):
            found.append(PanelQuery(panel["title"], target["refId"], target["expr"],
                                    target.get("legendFormat", ""), unit))
    return found


def annotation_queries(board: dict[str, Any]) -> list[PanelQuery]:
    return [PanelQuery(f"annotation: {a['name']}", "", a["expr"], "", "")
            for a in board.get("annotations", {}).get("list", []) if "expr" in a]


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}``; an unknown variable is an error, not a silent hole."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return variables[name]
    return _VARIABLE.sub(value, expr)


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``legendFormat``: ``{{label}}`` replaced by the series' label value."""
    return _LEGEND.sub(lambda match: labels.get(match.group(1), ""), template) or "value"

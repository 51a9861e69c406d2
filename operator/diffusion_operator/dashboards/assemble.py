"""Rows of panels → one dashboard, and a dashboard → deterministic JSON (the committed artefact)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_models

from diffusion_operator.dashboards.defaults import DATASOURCE


class _PanelBuilder(Protocol):
    def id(self, id_val: int) -> Any: ...
    def build(self) -> dashboard_models.Panel: ...


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[_PanelBuilder]


def build(title: str, uid: str, description: str, variables: Sequence[cogbuilder.Builder[Any]],
          rows: Sequence[Row], *, annotations: Sequence[tuple[str, str]] = (), refresh: str = "30s",
          tags: Sequence[str] = ("diffusion-operator",)) -> Any:
    """The dashboard model; panel ids are assigned in order so they never change between builds.

    ``annotations`` are ``(name, expr)`` Prometheus annotations (events drawn on every panel).
    """
    board = (
        dashboard.Dashboard(title).uid(uid).description(description).tags(list(tags)).refresh(refresh)
        .time("now-1h", "now").timezone("browser").editable()
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
    )
    for name, expr in annotations:
        board = board.annotation(
            dashboard.AnnotationQuery().name(name).datasource(DATASOURCE).expr(expr).enable(True).hide(False)
            .icon_color("orange").type("dashboard")
        )
    for variable in variables:
        board = board.with_variable(variable)
    next_id = 1
    for row in rows:
        board = board.with_row(dashboard.Row(row.title).id(next_id))
        next_id += 1
        for panel in row.panels:
            board = board.with_panel(panel.id(next_id))
            next_id += 1
    return board.build()


def to_json(model: Any) -> str:
    """Sorted keys and a trailing newline: the same model always gives the same bytes."""
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(model)
    # Round-trip through json to normalise the SDK's encoder output (floats, separators).
    return json.dumps(json.loads(encoded), sort_keys=True, indent=2) + "\n"

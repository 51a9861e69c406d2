"""What every panel shares: the datasource, the scopes the variables fill in, units and panel shapes.

Panels are builders with no I/O; a panel is a title, a unit and a list of ``(expr, legend)`` targets,
so tests can compare every target with the PromQL builder that produced it.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from diffusion_operator.config import OperatorConfig
from diffusion_operator.metrics.api_promql import EdgeScope
from diffusion_operator.metrics.operator_promql import OperatorScope
from diffusion_operator.metrics.promql import TritonScope

#: Every panel reads the Prometheus the ``datasource`` variable picks.
DATASOURCE: Final = dashboard_models.DataSourceRef(type_val="prometheus", uid="${datasource}")
#: The scopes the variables fill in: the builders render ``namespace="$namespace"`` and so on.
#: ``model=~"$model"``: the variable is multi-valued and "All" means every pipeline's entry model.
TRITON: Final = TritonScope(namespace="$namespace", service="$service", model="$model", model_pattern=True)
OPERATOR: Final = OperatorScope(namespace="$namespace", service="$service")
#: The service's activator series (its OpenAI API, measured at the edge).
EDGE: Final = EdgeScope(namespace="$namespace", service="$service")
NAMESPACE: Final = "$namespace"
PRICE: Final = "$gpu_price_per_hour"
#: The autoscaler's rate window, so a panel shows the number the scaler acted on.
WINDOW_S: Final = int(OperatorConfig.model_fields["metrics_window_seconds"].default)
#: Engine builds are rare and long (minutes to hours): count them over an hour.
BUILD_WINDOW_S: Final = 3600
#: Scale decisions arrive every sync (15 s): five minutes shows a few dozen.
DECISION_WINDOW_S: Final = 300

# Grafana unit ids (typed once here so a typo cannot hide in a panel module).
SECONDS: Final = "s"
REQUESTS_PER_SECOND: Final = "reqps"
COUNT: Final = "short"
RATIO: Final = "percentunit"
DOLLARS: Final = "currencyUSD"

FULL: Final = 24
HALF: Final = 12
THIRD: Final = 8
HEIGHT: Final = 8

Target = tuple[str, str]
"""A query and its legend (Grafana's ``legendFormat``)."""


def _queries(targets: list[Target], *, instant: bool = False) -> list[prometheus.Dataquery]:
    built = []
    for index, (expr, legend) in enumerate(targets):
        query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index))
        query = query.datasource(DATASOURCE)
        built.append(query.instant() if instant else query.range())
    return built


def timeseries_panel(title: str, description: str, unit: str, targets: list[Target], *,
                     width: int = HALF, bars: bool = False) -> timeseries.Panel:
    panel = (
        timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
        .min(0).span(width).height(HEIGHT).fill_opacity(10).line_width(1)
        .legend(common.VizLegendOptions().display_mode(common_models.LegendDisplayMode.LIST)
                .placement(common_models.LegendPlacement.BOTTOM).show_legend(True))
        .tooltip(common.VizTooltipOptions().mode(common_models.TooltipDisplayMode.MULTI)
                 .sort(common_models.SortOrder.DESCENDING))
    )
    if bars:
        panel = panel.draw_style(common_models.GraphDrawStyle.BARS).fill_opacity(80).stacking(
            common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    for query in _queries(targets):
        panel = panel.with_target(query)
    return panel


def dashed_red(series: str) -> list[dashboard_models.DynamicConfigValue]:
    """Override properties that draw ``series`` as a dashed red line (an SLA target)."""
    return [
        dashboard_models.DynamicConfigValue(id_val="custom.lineStyle", value={"dash": [10, 10], "fill": "dash"}),
        dashboard_models.DynamicConfigValue(id_val="color", value={"fixedColor": "red", "mode": "fixed"}),
        dashboard_models.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
    ]


def stat_panel(title: str, description: str, unit: str, targets: list[Target], *,
               width: int = THIRD, decimals: int = 2) -> stat.Panel:
    panel = (
        stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
        .decimals(decimals).span(width).height(HEIGHT)
        .graph_mode(common_models.BigValueGraphMode.AREA)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    for query in _queries(targets):
        panel = panel.with_target(query)
    return panel

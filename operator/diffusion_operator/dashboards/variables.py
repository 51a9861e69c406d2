"""The dashboards' variables: which Prometheus, which service, which model queues, what a GPU costs."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dashboard_models

from diffusion_operator.dashboards.defaults import DATASOURCE
from diffusion_operator.metrics import operator_promql
from diffusion_operator.metrics.operator_metrics import OperatorMetric
from diffusion_operator.metrics.promql import models_pattern
from diffusion_operator.metrics.queue_models import ALL_QUEUE_MODELS
from diffusion_operator.render.api_series import LATENCY_TARGETS
from diffusion_operator.render.names import SERVICE_METRIC_LABEL

#: "All" of the model variable: every pipeline's entry model, the queues the autoscaler watches. Not
#: every model of the service: a component's queue (the UNet's batcher window) is not the SLA.
ALL_ENTRY_MODELS: Final = models_pattern(ALL_QUEUE_MODELS)
#: The API latency target the dashboard opens with: the alert's default (``alerts.DEFAULT_API_TARGET``).
DEFAULT_API_LATENCY_TARGET: Final = "30.0"
#: On-demand price of one NVIDIA L4 (GCP g2-standard GPU share, 2025); edit it on the dashboard.
DEFAULT_GPU_PRICE_PER_HOUR: Final = "0.70"

_ON_TIME_RANGE: Final = dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED
_ALPHABETICAL: Final = dashboard_models.VariableSort.ALPHABETICAL_ASC


def datasource() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def _query(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (dashboard.QueryVariable(name).label(label).datasource(DATASOURCE).query(query)
            .refresh(_ON_TIME_RANGE).sort(_ALPHABETICAL))


def namespace() -> dashboard.QueryVariable:
    return _query("namespace", "Namespace", operator_promql.label_values(OperatorMetric.SERVICE_PHASE,
                                                                         "namespace"))


def service() -> dashboard.QueryVariable:
    query = operator_promql.label_values(OperatorMetric.SERVICE_PHASE, "service", namespace="$namespace")
    return _query("service", "DiffusionService", query)


def model() -> dashboard.QueryVariable:
    query = operator_promql.label_values("nv_inference_request_success", "model", namespace="$namespace",
                                         **{SERVICE_METRIC_LABEL: "$service"})
    current = dashboard_models.VariableOption(selected=True, text="All", value="$__all")
    return (_query("model", "Queueing model", query).multi(True).include_all(True).all_value(ALL_ENTRY_MODELS)
            .current(current).description(
                "The Triton models whose queue is the SLA. All: the entry models (sdxl, sdxl-photoshoot), as "
                "the autoscaler reads them; pick a component (e.g. unetxl) to see its own queue."))


def gpu_price_per_hour() -> dashboard.TextBoxVariable:
    return (dashboard.TextBoxVariable("gpu_price_per_hour").label("GPU $/h")
            .default_value(DEFAULT_GPU_PRICE_PER_HOUR)
            .description("Price of one GPU-hour; one Triton pod uses one GPU. 0.70 is an L4 on demand."))


def api_latency_target() -> dashboard.CustomVariable:
    """The bound the "within the latency target" panel counts at: one of the histogram's (a classic
    histogram counts "within X" only at a bucket bound), so a list rather than a text box."""
    current = dashboard_models.VariableOption(selected=True, text=DEFAULT_API_LATENCY_TARGET,
                                              value=DEFAULT_API_LATENCY_TARGET)
    return (dashboard.CustomVariable("api_latency_target").label("API latency target (s)")
            .values(",".join(LATENCY_TARGETS)).current(current)
            .description("Seconds within which an API image request should get its image (the OpenAI API row); "
                         "the alert's is the chart value prometheusRule.apiLatencyTarget."))


Variable = dashboard.DatasourceVariable | dashboard.QueryVariable | dashboard.TextBoxVariable | dashboard.CustomVariable


def service_variables() -> list[Variable]:
    return [datasource(), namespace(), service(), model(), gpu_price_per_hour(), api_latency_target()]

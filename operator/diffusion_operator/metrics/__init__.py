"""Metrics: PromQL builders (pure, shared with dashboards and alerts) and the Prometheus client (edge)."""

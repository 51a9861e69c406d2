"""Grafana dashboards as code (grafana-foundation-sdk), built from the same PromQL as the autoscaler.

One module per row (:mod:`sla`, :mod:`capacity`, :mod:`gpu`, :mod:`engines`), shared defaults in
:mod:`defaults`, the variables in :mod:`variables`; :mod:`main` and :mod:`operator` assemble the two
dashboards, :mod:`generate` writes their JSON into the chart (``make generate``), :mod:`preview` draws
a PNG of the key panels from a real Prometheus.
"""

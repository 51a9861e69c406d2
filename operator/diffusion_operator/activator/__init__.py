"""The activator: a small KServe v2 pass-through that holds requests while a service is at zero.

When ``spec.autoscaling.minReplicas`` is 0 the service's client endpoint (the Service users already
call) selects these pods instead of Triton's. While no Triton pod is Ready the activator holds each
request in a bounded queue with a deadline and exports the held count; the autoscaler reads that
count (``metrics.promql.activator_held_requests``) and wakes the service. Once Triton is Ready the
held requests go through, oldest first, and new ones pass straight through.

Why a small one of our own, not an existing component:

- **KEDA's HTTP add-on** (interceptor + scaler + operator): the interceptor is a reverse proxy that
  routes on the Host header and path of an ``HTTPScaledObject``. For years it spoke HTTP/1.1 only,
  so gRPC hung behind it (kedacore/http-add-on#1084); HTTP/2 and gRPC support was only proposed in
  2026 (#1655). The deciding reason is the rest: using it means installing KEDA, its add-on
  operator and their CRDs, and handing the replica count of the Triton Deployment to KEDA's
  ScaledObject — a second writer of ``spec.replicas`` next to the SLA autoscaler, which this
  operator rules out.
- **Knative's activator** speaks HTTP/1 and h2c (so gRPC) but is part of Knative Serving: it only
  fronts Knative ``Revision`` pods, takes readiness from Knative's own ServerlessServices and
  throttles with the KPA's metrics. Using it means running Triton as a Knative Service (its own
  autoscaler, its own Deployments, its queue-proxy sidecar in every GPU pod), which again replaces
  the operator's Deployment, probes and autoscaler instead of sitting in front of them.

What is needed is narrow: pass bytes through (HTTP with aiohttp, gRPC with a generic ``grpc.aio``
handler that never deserialises), know when Triton's strict readiness says yes, hold with a limit and
a deadline, and explain failures. That is a few hundred lines in the operator's own image.
"""

"""OpenAI's images API at the service's edge, served by the activator (``spec.api``).

Why the activator is its home, rather than a gateway of its own or Triton:

- **It already fronts Triton.** The client Service selects the activator's pods whenever the API is
  on, so one hop authenticates, limits, holds at zero and forwards; a separate gateway would add a
  hop, a Deployment and a second place where "is Triton Ready" is decided.
- **The key is checked before anything queues.** A request without a valid key is answered 401 by
  a CPU pod and never reaches the gate, the backend or a GPU; the caps (n, size, steps) refuse what
  the service cannot serve in the same place.
- **Triton has no images route.** Its OpenAI frontend serves chat and completions only, and KServe
  has none either; the KServe v2 request an image needs is small and already built by the project's
  client (``client.triton.grpc_infer_request``), so the API reuses it instead of a second encoder.

Modules: ``settings`` (what the operator passes), ``errors`` (OpenAI's error object), ``requests``
(the request body, checked against the caps), ``tokens`` (CLIP's truncation), ``limits`` (per-key
rate and concurrency), ``images`` (PNG/JPEG/WebP), ``backend`` (one image through the gate to
Triton), ``routes`` (the aiohttp handlers). The keys themselves live in ``activator.keys``: the
KServe pass-throughs check them too.
"""

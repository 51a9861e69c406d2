"""What a client reads when the activator cannot forward its request: one place for every text.

Each message names the service (clients often call several) and says whether to retry, so that a
429 at a flood, a 503 while the activator shuts down and a 504 at the deadline read differently.
"""

from __future__ import annotations


def queue_full(service: str, limit: int) -> str:
    return (f"diffusion service {service} is starting from zero and already holds {limit} requests "
            f"(the activator's queue limit); retry later")


def hold_timeout(service: str, held_s: float, cold_start_s: float | None) -> str:
    cold = ("no Triton pod has been Ready yet" if cold_start_s is None
            else f"its cold start has lasted {cold_start_s:.1f}s so far")
    return (f"diffusion service {service} did not become ready within this request's deadline "
            f"(held {held_s:.1f}s; {cold}); retry later")


def cannot_start(service: str, reason: str) -> str:
    return f"diffusion service {service} cannot start a Triton pod: {reason}"


def shutting_down(service: str, pod: str) -> str:
    return (f"the activator {pod} of diffusion service {service} is shutting down and could not forward "
            f"this request in time; retry: the other activator replica takes it")


def upstream_failed(service: str, detail: str) -> str:
    return f"diffusion service {service}: forwarding to Triton failed: {detail}"


def unauthorized(service: str) -> str:
    return (f"diffusion service {service} serves its API with keys: send one as 'Authorization: Bearer <key>' "
            f"(the KServe endpoints too)")

"""``diffusion-operator``: run the operator, and the tools that belong with it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from diffusion_operator.api.crd import render_yaml

app = typer.Typer(help="diffusion-operator: SDXL on Kubernetes (TensorRT engines, Triton, SLA autoscaling).",
                  no_args_is_help=True)


@app.command()
def run(
    namespace: Annotated[list[str] | None, typer.Option(
        "--namespace", "-n", help="watch only these namespaces (repeat); default: all namespaces")] = None,
    liveness: Annotated[str, typer.Option(help="liveness endpoint for the pod's probe")]
    = "http://0.0.0.0:8081/healthz",
    metrics_port: Annotated[int, typer.Option(help="port for the operator's /metrics (0: off)")] = 8080,
    peering: Annotated[str | None, typer.Option(
        help="peering name for HA: replicas with the same name elect one active operator")] = None,
    log_format: Annotated[str, typer.Option(help="json or plain")] = "json",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the operator (wraps kopf): reconcile DiffusionServices until stopped."""
    # Importing the handlers registers them with kopf: only `run` may do that (`crd` needs neither).
    import kopf  # noqa: PLC0415

    from diffusion_operator import handlers, telemetry  # noqa: PLC0415
    from diffusion_operator.handlers.startup import scope_settings  # noqa: PLC0415

    _ = handlers  # importing registers the handlers with kopf
    # kopf's JSON format carries the object (namespace/name) of each handler's log lines; it is
    # installed on the root logger, so the operator's own loggers share it.
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL)
    telemetry.serve_metrics(metrics_port)
    kopf.run(
        clusterwide=not namespace,
        namespaces=namespace or [],
        settings=scope_settings(namespace or []),
        standalone=peering is None,
        peering_name=peering,
        # Two replicas with peering: the higher priority acts, the other stands by. kopf freezes *all*
        # operators of equal priority, so each replica draws its own unless one is configured.
        priority=int(os.environ.get("DIFFUSION_PEERING_PRIORITY") or secrets.randbelow(10**6) + 1),
        liveness_endpoint=liveness or None,
    )


@app.command()
def crd() -> None:
    """Print the DiffusionService CRD (the same YAML as manifests/crds/)."""
    typer.echo(render_yaml(), nl=False)


@app.command()
def activator(
    service: Annotated[str, typer.Option(help="the DiffusionService this activator fronts")],
    namespace: Annotated[str, typer.Option(help="its namespace")],
    backend: Annotated[str, typer.Option(help="host of Triton's backend Service")],
    backend_service: Annotated[str | None, typer.Option(
        help="the backend Service's name: use its ClusterIP (read from the API) instead of --backend")] = None,
    backend_http_port: Annotated[int, typer.Option()] = 8000,
    backend_grpc_port: Annotated[int, typer.Option()] = 8001,
    http_port: Annotated[int, typer.Option()] = 8000,
    grpc_port: Annotated[int, typer.Option()] = 8001,
    admin_port: Annotated[int, typer.Option(help="/metrics, /healthz, /readyz")] = 8002,
    queue_limit: Annotated[int, typer.Option(help="requests held at most; beyond: 429")] = 100,
    deadline_seconds: Annotated[float, typer.Option(help="how long one request is held at most")] = 1200.0,
    drain_seconds: Annotated[float, typer.Option(help="how long held requests wait at shutdown")] = 10.0,
    read_status: Annotated[bool, typer.Option(help="read the service's status for start problems")] = True,
    api_keys_dir: Annotated[Path | None, typer.Option(
        help="serve the OpenAI images API with the keys in this directory (a mounted Secret); unset: no API")] = None,
    api_max_images: Annotated[int, typer.Option(help="the largest n per request")] = 4,
    api_sizes: Annotated[str | None, typer.Option(help="the sizes admitted, e.g. 1024x1024,768x1344")] = None,
    api_size_range: Annotated[str | None, typer.Option(
        help="without --api-sizes: every multiple of 8 between two sizes, e.g. 256x256-1024x1024")] = None,
    api_default_size: Annotated[str, typer.Option(help="the size of a request without one")] = "1024x1024",
    api_max_steps: Annotated[int, typer.Option(help="the most num_inference_steps")] = 150,
    api_requests_per_minute: Annotated[int | None, typer.Option(help="per key; unset: no rate limit")] = None,
    api_max_concurrent: Annotated[int | None, typer.Option(help="per key; unset: no limit")] = None,
    api_edits: Annotated[bool, typer.Option(
        help="serve POST /v1/images/edits with the photoshoot pipeline (the service has it)")] = False,
) -> None:
    """Run the activator: it holds requests while the service is at zero, and serves its API (activator/)."""
    from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps  # noqa: PLC0415
    from diffusion_operator.activator.server import ActivatorSettings, serve  # noqa: PLC0415

    api = None if api_keys_dir is None else ApiSettings(
        keys_dir=api_keys_dir, model_id=service, max_images=api_max_images,
        sizes=SizeCaps.parse(api_sizes, api_size_range, api_default_size), max_steps=api_max_steps,
        requests_per_minute=api_requests_per_minute, max_concurrent=api_max_concurrent, edits=api_edits)
    serve(ActivatorSettings(
        service=service, namespace=namespace, backend_host=backend, backend_http_port=backend_http_port,
        backend_grpc_port=backend_grpc_port, http_port=http_port, grpc_port=grpc_port, admin_port=admin_port,
        queue_limit=queue_limit, deadline_s=deadline_seconds, drain_s=drain_seconds, read_status=read_status,
        backend_service=backend_service, api=api))

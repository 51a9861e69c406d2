"""``diffusion``: generate, photoshoot, loadtest, plan, status. Exit codes are in ``errors`` and docs/cli.md.

Results go to stdout, spinners and progress bars to stderr, so ``diffusion plan --json | jq`` works.
Every user mistake or remote failure is a ``ClientError`` printed as one ``error:`` line.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from diffusion_operator.api.durations import parse_duration
from diffusion_operator.client import planner
from diffusion_operator.client.endpoints import endpoint_from_status, parse_resolve
from diffusion_operator.client.errors import ClientError, LoadTestFailedError, UsageError
from diffusion_operator.client.evaluate import Thresholds, evaluate_service
from diffusion_operator.client.generate import generate_png
from diffusion_operator.client.loadtest import run_load
from diffusion_operator.client.photoshoot import photoshoot_png, read_image
from diffusion_operator.client.plot import plot_latency
from diffusion_operator.client.request import ImageRequest, PhotoshootRequest, parse_size
from diffusion_operator.client.status_rows import conditions_lines
from diffusion_operator.client.tables import plan_table, status_table, summary_table
from diffusion_operator.client.traces import arrival_schedule
from diffusion_operator.client.triton import DEFAULT_TIMEOUT_S, Endpoint

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Talk to Stable Diffusion XL served by diffusion-operator (Triton).")
out = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

ProtocolOption = Annotated[Literal["http", "grpc"], typer.Option(help="Triton protocol")]
UrlOption = Annotated[str | None, typer.Option("--url", help="Triton address HOST:PORT (instead of --service)")]
ServiceOption = Annotated[str | None, typer.Option("--service", "-s", help="DiffusionService to send to")]
NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n",
                                                     help="namespace (default: the kubeconfig context's)")]
ResolveOption = Annotated[list[str] | None, typer.Option(
    "--resolve", help="HOST:PORT=ADDR:PORT: reach an in-cluster endpoint through ADDR:PORT (repeatable)")]
KubeconfigOption = Annotated[str | None, typer.Option(help="kubeconfig file (default: $KUBECONFIG)")]
ApiOption = Annotated[bool, typer.Option(
    "--api", help="send through the service's OpenAI images API (POST /v1/images/generations) instead of KServe v2")]
#: The key comes from the environment rather than the command line where it can (shell history, ps).
ApiKeyOption = Annotated[str | None, typer.Option(
    "--api-key", envvar="DIFFUSION_API_KEY", show_envvar=True,
    help="API key of a service with spec.api, sent as 'Authorization: Bearer' (KServe through its activator too)")]


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``ClientError`` into its one-line message and documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ClientError as err:
            err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper


def parse_seconds(text: str, what: str) -> float:
    """``500ms``, ``2s``, ``1m30s`` (Go durations, as in the CRD) or a plain number of seconds."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_duration(text).total_seconds()
        except Exception as err:
            raise UsageError(f"{what}: {text!r} is not a duration (e.g. 500ms, 2s, 1m)") from err
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{what}: {text!r} must be > 0")
    return value


def resolve_endpoint(url: str | None, service: str | None, namespace: str | None, protocol: Literal["http", "grpc"],
                     resolve: list[str] | None, kubeconfig: str | None) -> Endpoint:
    """``--url`` as given, or the endpoint a DiffusionService publishes in its status."""
    if (url is None) == (service is None):
        raise UsageError("give exactly one of --url HOST:PORT or --service NAME")
    mapping = parse_resolve(resolve or [])  # a typo is a usage error even before the cluster is asked
    if url is not None:
        return Endpoint.parse(url, protocol)
    from diffusion_operator.client.cluster import Cluster  # noqa: PLC0415 - the Kubernetes client loads only for --service

    assert service is not None
    cluster = Cluster(kubeconfig)
    obj = cluster.get(service, namespace or cluster.default_namespace)
    return endpoint_from_status(obj.get("status"), protocol, service, mapping)


def check_api_protocol(api: bool, protocol: Literal["http", "grpc"]) -> None:
    """The OpenAI API is HTTP: ``--api`` with ``--protocol grpc`` is a usage mistake, caught before any I/O."""
    if api and protocol != "http":
        raise UsageError("--api speaks HTTP: drop --protocol grpc")


def image_request(prompt: str, negative: str | None, seed: int | None, steps: int | None,
                  size: str | None) -> ImageRequest:
    width, height = parse_size(size) if size else (None, None)
    return ImageRequest(prompt=prompt, negative_prompt=negative, seed=seed, steps=steps,
                        width=width, height=height).validated()


@app.command()
@user_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="what to draw")],
    negative: Annotated[str | None, typer.Option("--negative", help="negative prompt")] = None,
    seed: Annotated[int | None, typer.Option(help="seed (default: the server picks and reports one)")] = None,
    steps: Annotated[int | None, typer.Option(help="denoising steps (default: the service's)")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, multiples of 8 (default: 1024x1024)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="PNG (default diffusion-<seed>.png)")] = None,
    service: ServiceOption = None,
    namespace: NamespaceOption = None,
    url: UrlOption = None,
    protocol: ProtocolOption = "http",
    resolve: ResolveOption = None,
    kubeconfig: KubeconfigOption = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the image")] = DEFAULT_TIMEOUT_S,
    api: ApiOption = False,
    api_key: ApiKeyOption = None,
) -> None:
    """Generate one image and write it as a PNG with the prompt and seed in its metadata."""
    request = image_request(prompt, negative, seed, steps, size)
    check_api_protocol(api, protocol)
    endpoint = resolve_endpoint(url, service, namespace, protocol, resolve, kubeconfig)
    where = f"http://{endpoint.address}/v1" if api else f"{endpoint.protocol}://{endpoint.address}"
    with err_console.status(f"generating at {where} ..."):
        image = generate_png(endpoint, request, output, timeout_s=timeout, api=api, api_key=api_key)
    out.print(f"wrote {image.path} ({image.width}x{image.height}, seed {image.seed}) in {image.seconds:.2f}s",
              highlight=False)


@app.command()
@user_errors
def evaluate(
    references: Annotated[Path, typer.Argument(help="directory written by `engine-builder references`")],
    min_psnr_db: Annotated[float, typer.Option(help="worst image's PSNR to its reference (dB)")] = 30.0,
    min_ssim: Annotated[float, typer.Option(help="worst image's SSIM to its reference")] = 0.95,
    service: ServiceOption = None,
    namespace: NamespaceOption = None,
    url: UrlOption = None,
    protocol: ProtocolOption = "http",
    resolve: ResolveOption = None,
    kubeconfig: KubeconfigOption = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each image")] = DEFAULT_TIMEOUT_S,
    api_key: ApiKeyOption = None,
) -> None:
    """Score a running service's images against reference images (the build gate's metrics); exit 1 on failure."""
    endpoint = resolve_endpoint(url, service, namespace, protocol, resolve, kubeconfig)
    with err_console.status(f"evaluating {endpoint.protocol}://{endpoint.address} ..."):
        report = evaluate_service(endpoint, references, Thresholds(min_psnr_db, min_ssim), timeout_s=timeout,
                                  api_key=api_key)
    out.print_json(json.dumps(report))
    if report["verdict"] != "Passed":
        raise typer.Exit(1)


@app.command()
@user_errors
def photoshoot(
    image: Annotated[Path, typer.Argument(help="product photo (PNG or JPEG), ideally on a plain background")],
    prompt: Annotated[str, typer.Argument(help="the scene to place the product in")],
    negative: Annotated[str | None, typer.Option("--negative", help="negative prompt")] = None,
    seed: Annotated[int | None, typer.Option(help="seed (default: the server picks and reports one)")] = None,
    steps: Annotated[int | None, typer.Option(help="denoising steps (default: the service's)")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT of SDXL's canvas, multiples of 8")] = None,
    upscale: Annotated[int | None, typer.Option(help="1, 2 or 4: output = size x upscale")] = None,
    product_scale: Annotated[float | None, typer.Option(
        help="product's longer side / canvas's shorter side, 0.05..1 (default 0.6)")] = None,
    placement: Annotated[str | None, typer.Option(help="center, bottom, top, left or right")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="PNG (default photoshoot-<seed>.png); mask: <name>.mask.png")] = None,
    service: ServiceOption = None,
    namespace: NamespaceOption = None,
    url: UrlOption = None,
    protocol: ProtocolOption = "http",
    resolve: ResolveOption = None,
    kubeconfig: KubeconfigOption = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the image")] = DEFAULT_TIMEOUT_S,
    api_key: ApiKeyOption = None,
) -> None:
    """Put a product photo into a generated scene: the product's pixels stay, the background is SDXL's."""
    width, height = parse_size(size) if size else (None, None)
    request = PhotoshootRequest(image=read_image(image), prompt=prompt, negative_prompt=negative, seed=seed,
                                steps=steps, width=width, height=height, upscale_factor=upscale,
                                product_scale=product_scale, placement=placement).validated()
    endpoint = resolve_endpoint(url, service, namespace, protocol, resolve, kubeconfig)
    with err_console.status(f"photographing at {endpoint.protocol}://{endpoint.address} ..."):
        shot = photoshoot_png(endpoint, request, output, timeout_s=timeout, api_key=api_key)
    out.print(f"wrote {shot.path} ({shot.width}x{shot.height}, seed {shot.seed}) and {shot.mask_path} "
              f"in {shot.seconds:.2f}s", highlight=False)


@app.command()
@user_errors
def loadtest(
    rate: Annotated[float, typer.Option(help="requests per second (peak of the trace)")],
    duration: Annotated[str, typer.Option(help="how long to send, e.g. 60 or 2m")],
    trace: Annotated[str, typer.Option(help="constant, step, diurnal, poisson or file:PATH")] = "constant",
    concurrency: Annotated[int, typer.Option(help="connections in flight at most (not a rate limit)")] = 16,
    sla: Annotated[str | None, typer.Option(help="latency SLA, e.g. 2s: report the share within it")] = None,
    min_sla_share: Annotated[float | None, typer.Option(help="exit 6 when fewer requests met the SLA")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="save summary and samples here")] = None,
    plot: Annotated[Path | None, typer.Option(help="save a latency-over-time PNG here")] = None,
    prompt: Annotated[str, typer.Option(help="prompt of every request")] = "a lighthouse at dusk, oil painting",
    steps: Annotated[int | None, typer.Option(help="steps per image (default: the service's)")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT (default: the service's)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the first request (and of the poisson trace)")] = 0,
    service: ServiceOption = None,
    namespace: NamespaceOption = None,
    url: UrlOption = None,
    protocol: ProtocolOption = "http",
    resolve: ResolveOption = None,
    kubeconfig: KubeconfigOption = None,
    api: ApiOption = False,
    api_key: ApiKeyOption = None,
) -> None:
    """Send an open-loop load (arrivals on the trace's schedule) and report latency and SLA share."""
    duration_s = parse_seconds(duration, "duration")
    sla_s = parse_seconds(sla, "sla") if sla is not None else None
    arrivals = arrival_schedule(trace, rate, duration_s, seed)
    base = image_request(prompt, None, seed, steps, size)
    check_api_protocol(api, protocol)
    endpoint = resolve_endpoint(url, service, namespace, protocol, resolve, kubeconfig)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(f"{trace} {rate:g}/s for {duration_s:g}s", total=len(arrivals))
        result = run_load(endpoint, base, arrivals, concurrency=concurrency, sla_s=sla_s,
                          on_done=lambda _: progress.advance(task), api=api, api_key=api_key)
    out.print(summary_table(result.summary))
    if json_path is not None:
        payload: dict[str, Any] = {
            "endpoint": f"{endpoint.protocol}://{endpoint.address}", "api": api, "trace": trace, "rate": rate,
            "duration_s": duration_s, "concurrency": concurrency, "summary": result.summary.to_json(),
            "samples": [{"scheduled_s": s.scheduled_s, "sent_s": s.sent_s, "latency_s": s.latency_s,
                         "ok": s.ok, "error": s.error} for s in result.samples],
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        out.print(f"saved {json_path}", highlight=False)
    if plot is not None:
        plot_latency(result.samples, plot, sla_s=sla_s, title=f"{trace} load, {rate:g}/s peak")
        out.print(f"saved {plot}", highlight=False)
    if result.summary.requests and result.summary.succeeded == 0:
        raise LoadTestFailedError(f"all {result.summary.requests} requests failed")
    if min_sla_share is not None and (result.summary.within_sla or 0.0) < min_sla_share:
        raise LoadTestFailedError(f"{100 * (result.summary.within_sla or 0):.1f}% within the SLA, "
                                  f"below --min-sla-share {100 * min_sla_share:.1f}%")


@app.command(name="plan")
@user_errors
def plan_command(
    rate: Annotated[float, typer.Option(help="peak images per second")],
    sla: Annotated[str, typer.Option(help="queue-wait target (the CRD's queueLatencyTarget), e.g. 2s")],
    gpu: Annotated[str, typer.Option(help="GPU type, e.g. nvidia-l4, nvidia-h100-80gb")] = "nvidia-l4",
    price: Annotated[float | None, typer.Option(help="$ per GPU-hour (your price; none is assumed)")] = None,
    service_time: Annotated[float | None, typer.Option(help="measured s/image (overrides the anchor)")] = None,
    steps: Annotated[int, typer.Option(help="steps per image (scales the anchor)")] = planner.ANCHOR_STEPS,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT (scales the anchor)")] = "1024x1024",
    quantile: Annotated[float, typer.Option(help="share of requests that must meet the SLA")] = 0.95,
    min_rate: Annotated[float | None, typer.Option(help="quietest images/s (default: a quarter of --rate)")] = None,
    headroom: Annotated[float, typer.Option(help="extra max replicas over the peak's need")] = planner.DEFAULT_HEADROOM,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
) -> None:
    """Recommend min/max replicas for a peak rate and a queue SLA; GPU-hours and $ per 1,000 images."""
    width, height = parse_size(size)
    time_source = planner.service_time_for(gpu, service_time, steps, width, height)
    given = planner.PlanInput(rate=rate, sla_s=parse_seconds(sla, "sla"), gpu=gpu, service_time=time_source,
                              quantile=quantile, min_rate=min_rate, headroom=headroom, price_per_hour=price)
    result = planner.plan(given)
    if as_json:
        out.print_json(json.dumps({"input": {**given.__dict__, "service_time": time_source.__dict__},
                                   "plan": result.__dict__}, default=str))
        return
    out.print(plan_table(given, result, time_source))
    out.print(f"service time source: {time_source.source}", highlight=False)
    if not time_source.measured:
        err_console.print("note: the service time is an estimate. Measure yours: saturate one replica with "
                          "`diffusion loadtest` and pass --service-time 1/(its images/s)", highlight=False)


@app.command()
@user_errors
def status(
    name: Annotated[str | None, typer.Argument(help="one DiffusionService (default: all in the namespace)")] = None,
    namespace: NamespaceOption = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="every namespace")] = False,
    kubeconfig: KubeconfigOption = None,
) -> None:
    """A table of DiffusionServices: phase, engine, replicas ready/desired, queue vs SLA, age."""
    from diffusion_operator.client.cluster import Cluster  # noqa: PLC0415 - loads the Kubernetes client

    cluster = Cluster(kubeconfig)
    ns = None if all_namespaces else (namespace or cluster.default_namespace)
    if name is not None:
        if ns is None:
            raise UsageError("a NAME needs a namespace: drop -A or pass -n")
        objects = [cluster.get(name, ns)]
    else:
        objects = cluster.list(ns)
    if not objects:
        out.print(f"no DiffusionServices in {'any namespace' if ns is None else f'namespace {ns}'}",
                  highlight=False)
        return
    out.print(status_table(objects))
    if name is not None:
        for line in conditions_lines(objects[0]):
            out.print(f"  {line}", highlight=False)
        endpoints = (objects[0].get("status") or {}).get("endpoints") or {}
        for key in ("http", "grpc"):
            if endpoints.get(key):
                out.print(f"  endpoint {key}: {endpoints[key]}", highlight=False)


if __name__ == "__main__":
    app()

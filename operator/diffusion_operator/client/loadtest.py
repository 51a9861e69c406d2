"""The open-loop load generator: sends on the trace's schedule, whatever the server's pace.

A scheduler thread releases each request at its planned time into a pool of ``concurrency``
connections; when all are busy the request waits for one, and that wait counts in its latency
(``stats.Sample`` measures from the scheduled time). ``concurrency`` bounds sockets and threads, not
the arrival rate: an overloaded server shows up as growing latency, as it would for real users.

Requests go as KServe v2 to Triton (``TritonClient``) or, with ``api=True``, as OpenAI images requests
to a service's ``/v1/images/generations`` (``OpenAIImagesClient``, one image each): the same
schedule, samples and summary, so the two paths compare directly. ``api_key`` is sent on both (a
service with ``spec.api`` asks KServe requests through its activator for a key too).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from diffusion_operator.client.errors import ClientError, UsageError
from diffusion_operator.client.openai_images import OpenAIImagesClient
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.stats import Sample, Summary, summarize
from diffusion_operator.client.triton import Endpoint, ModelStatistics, TritonClient


@dataclass(frozen=True)
class LoadResult:
    samples: list[Sample]
    summary: Summary
    statistics: ModelStatistics | None


class ImageSender(Protocol):
    """What a worker sends with: a KServe ``TritonClient`` or an API ``OpenAIImagesClient``."""

    def check_ready(self) -> None: ...

    def generate(self, request: ImageRequest) -> object: ...

    def close(self) -> None: ...


def sender(endpoint: Endpoint, timeout_s: float, *, api: bool = False, api_key: str | None = None) -> ImageSender:
    """One connection of the chosen path; ``api`` speaks HTTP only."""
    if not api:
        return TritonClient(endpoint, timeout_s=timeout_s, api_key=api_key)
    if endpoint.protocol != "http":
        raise UsageError("--api speaks HTTP: drop --protocol grpc")
    return OpenAIImagesClient(endpoint.address, api_key, timeout_s)


def request_for(base: ImageRequest, index: int) -> ImageRequest:
    """The ``index``-th request: the base with its own seed, so no two requests are identical."""
    seed = (base.seed or 0) + index
    return dataclasses.replace(base, seed=seed)


def run_load(endpoint: Endpoint, base: ImageRequest, arrivals: Sequence[float], *, concurrency: int,
             sla_s: float | None = None, on_done: Callable[[Sample], None] | None = None,
             stop: threading.Event | None = None, timeout_s: float = 300.0, api: bool = False,
             api_key: str | None = None) -> LoadResult:
    """Send ``len(arrivals)`` requests at ``arrivals`` (seconds from now); return samples and summary.

    ``stop`` ends the test early (requests not yet sent are dropped, not counted). The queue share
    comes from Triton's own counters, read before and after, so it covers exactly this test's
    window (and other clients' requests in it: a shared server is measured as it is). Through the
    API they are read through the activator's KServe pass-through with the same key, where there is
    one; elsewhere the share is left out.
    """
    if concurrency < 1:
        raise UsageError(f"concurrency: {concurrency} must be >= 1")
    ready = sender(endpoint, timeout_s, api=api, api_key=api_key)
    try:
        ready.check_ready()
    finally:
        ready.close()
    probe = TritonClient(endpoint, timeout_s=timeout_s, api_key=api_key)
    before = _statistics(probe)
    local = threading.local()
    samples: list[Sample] = []
    lock = threading.Lock()
    started = time.monotonic()

    def one(index: int, scheduled: float) -> None:
        sent = time.monotonic() - started
        error: str | None = None
        try:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = sender(endpoint, timeout_s, api=api, api_key=api_key)
            client.generate(request_for(base, index))
        except ClientError as err:
            error = str(err)
        except Exception as err:  # a worker must never die silently: record it as a failed request
            error = f"{type(err).__name__}: {err}"
        sample = Sample(scheduled, sent, time.monotonic() - started, error is None, error)
        with lock:
            samples.append(sample)
        if on_done is not None:
            on_done(sample)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
        for index, at in enumerate(arrivals):
            delay = started + at - time.monotonic()
            if stop is not None and stop.wait(max(0.0, delay)):
                break
            if stop is None and delay > 0:
                time.sleep(delay)
            pool.submit(one, index, at)
    wall = time.monotonic() - started
    after = _statistics(probe)
    probe.close()
    window = after.minus(before) if after is not None and before is not None else None
    ordered = sorted(samples, key=lambda s: s.scheduled_s)
    summary = summarize(ordered, sla_s, window.queue_share if window else None, wall)
    return LoadResult(ordered, summary, window)


def _statistics(client: TritonClient) -> ModelStatistics | None:
    """Counters, or ``None`` where the statistics extension is off (the test still runs)."""
    try:
        return client.statistics()
    except ClientError:
        return None


def measure_capacity(endpoint: Endpoint, base: ImageRequest, concurrency: int, rounds: int = 2) -> float:
    """Images per second a server sustains: ``concurrency`` requests at once (closed loop), last round timed.

    Earlier rounds warm every model instance up (a fresh ONNX Runtime session pays seconds on its
    first request). Used to set an open-loop rate relative to what the server can do, e.g. by the
    demo, whose 2 shared CPU cores can be 3x slower while other work runs.
    """
    if concurrency < 1 or rounds < 1:
        raise UsageError("concurrency and rounds must be >= 1")

    def one(index: int) -> None:
        client = TritonClient(endpoint)
        try:
            client.generate(request_for(base, 1000 + index))
        finally:
            client.close()

    seconds = 0.0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for round_ in range(rounds):
            started = time.monotonic()
            list(pool.map(one, range(round_ * concurrency, (round_ + 1) * concurrency)))
            seconds = time.monotonic() - started
    return concurrency / seconds

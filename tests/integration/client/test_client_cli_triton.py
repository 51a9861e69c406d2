"""``diffusion generate|loadtest|plan`` against a real Triton serving the tiny SDXL pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from diffusion_operator.client.errors import EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_USAGE
from diffusion_operator.client.png import read_png_metadata
from PIL import Image

from testbed.processes import free_port
from testbed.triton import TritonServer

SMALL = ("--size", "64x64", "--steps", "2")


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_generate_writes_a_png_with_prompt_and_seed_and_http_and_grpc_agree(
        tiny_triton: TritonServer, diffusion, tmp_path: Path):
    http = diffusion("generate", "a red fox in snow", "--url", tiny_triton.http_url, "--seed", "7", *SMALL,
                     "-o", str(tmp_path / "http.png"))
    assert http.returncode == 0, http.stderr
    assert "seed 7" in http.stdout and "64x64" in http.stdout
    meta = read_png_metadata(tmp_path / "http.png")
    assert meta["prompt"] == "a red fox in snow" and meta["seed"] == "7" and meta["steps"] == "2"
    grpc = diffusion("generate", "a red fox in snow", "--url", tiny_triton.grpc_url, "--protocol", "grpc",
                     "--seed", "7", *SMALL, "-o", str(tmp_path / "grpc.png"))
    assert grpc.returncode == 0, grpc.stderr
    assert pixels(tmp_path / "http.png").shape == (64, 64, 3)
    assert np.array_equal(pixels(tmp_path / "http.png"), pixels(tmp_path / "grpc.png"))  # same seed, same image


def test_without_a_seed_the_server_picks_one_and_the_png_records_it(tiny_triton: TritonServer, diffusion,
                                                                    tmp_path: Path):
    result = diffusion("generate", "a boat", "--url", tiny_triton.http_url, *SMALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [written] = list(tmp_path.glob("diffusion-*.png"))
    assert read_png_metadata(written)["seed"] == written.stem.removeprefix("diffusion-")


def test_a_server_side_rejection_is_one_line_and_exit_5(tiny_triton: TritonServer, diffusion, tmp_path: Path):
    result = diffusion("generate", "x", "--url", tiny_triton.http_url, "--steps", "0", "--size", "64x64",
                       "-o", str(tmp_path / "never.png"))
    assert result.returncode == EXIT_REJECTED
    assert "server rejected the request: invalid request: steps: 0 is outside 1..150" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "never.png").exists()


def test_an_unreachable_url_is_exit_3_for_both_protocols(diffusion):
    port = free_port()
    for protocol in ("http", "grpc"):
        result = diffusion("generate", "x", "--url", f"127.0.0.1:{port}", "--protocol", protocol, *SMALL)
        assert result.returncode == EXIT_UNREACHABLE, result.stderr
        assert f"no Triton answers at {protocol}://127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_bad_size_is_refused_before_anything_is_sent(diffusion):
    result = diffusion("generate", "x", "--url", f"127.0.0.1:{free_port()}", "--size", "100x64")
    assert result.returncode == EXIT_USAGE
    assert "width 100 is not a multiple of 8" in result.stderr


def test_loadtest_sends_open_loop_and_saves_percentiles_queue_share_and_a_plot(
        tiny_triton: TritonServer, diffusion, tmp_path: Path):
    result = diffusion("loadtest", "--url", tiny_triton.http_url, "--rate", "6", "--duration", "3",
                       "--trace", "poisson", "--seed", "3", "--sla", "5s", *SMALL,
                       "--json", str(tmp_path / "load.json"), "--plot", str(tmp_path / "load.png"))
    assert result.returncode == 0, result.stderr
    assert "latency p50 / p95 / p99" in result.stdout
    saved = json.loads((tmp_path / "load.json").read_text())
    summary, samples = saved["summary"], saved["samples"]
    assert summary["requests"] == len(samples) > 0 and summary["errors"] == 0
    assert summary["p50_s"] <= summary["p95_s"] <= summary["p99_s"]
    assert 0.0 <= summary["queue_share"] < 1.0
    met = sum(1 for s in samples if s["ok"] and s["latency_s"] <= 5.0)
    assert summary["within_sla"] == pytest.approx(met / len(samples))  # the saved samples back the summary
    scheduled = [s["scheduled_s"] for s in samples]
    assert scheduled == sorted(scheduled) and scheduled[-1] < 3.0
    assert all(s["sent_s"] >= s["scheduled_s"] - 0.05 for s in samples)  # never sent early: open loop
    with Image.open(tmp_path / "load.png") as plot:
        assert plot.format == "PNG" and plot.size[0] >= 400


def test_loadtest_where_every_request_is_rejected_exits_6(tiny_triton: TritonServer, diffusion):
    result = diffusion("loadtest", "--url", tiny_triton.http_url, "--rate", "4", "--duration", "1",
                       "--steps", "0", "--size", "64x64")
    assert result.returncode == 6, result.stdout + result.stderr
    assert "all 4 requests failed" in result.stderr and "steps: 0" in result.stdout


def test_loadtest_against_nothing_is_exit_3(diffusion):
    result = diffusion("loadtest", "--url", f"127.0.0.1:{free_port()}", "--rate", "1", "--duration", "1")
    assert result.returncode == EXIT_UNREACHABLE and "Traceback" not in result.stderr


def test_plan_prints_replicas_and_costs_as_json(diffusion):
    result = diffusion("plan", "--rate", "2", "--sla", "2s", "--gpu", "nvidia-h100-80gb", "--price", "10", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)["plan"]
    assert (plan["replicas_at_peak"], plan["min_replicas"], plan["max_replicas"]) == (4, 2, 5)
    assert plan["dollars_per_1000_at_peak"] == pytest.approx(10 * 4 * 500 / 3600)  # 4 GPUs x 500 s x $10/h


def test_plan_for_a_gpu_without_an_anchor_asks_for_a_measurement(diffusion):
    result = diffusion("plan", "--rate", "1", "--sla", "1s", "--gpu", "nvidia-tesla-t4")
    assert result.returncode == EXIT_USAGE and "--service-time" in result.stderr


def test_an_overloaded_open_loop_counts_client_side_waiting_in_latency(
        tiny_triton: TritonServer, diffusion, tmp_path: Path):
    # One connection and 20 requests scheduled within a second: sends fall behind the schedule, and
    # latency (from the scheduled time) grows with the backlog instead of looking flat. 4 steps keep
    # each request well over the 50 ms between arrivals: at 2 steps a fast moment made the backlog
    # (19 requests x ~75 ms - 0.95 s) land right at the bound (0.49 s).
    result = diffusion("loadtest", "--url", tiny_triton.http_url, "--rate", "20", "--duration", "1",
                       "--concurrency", "1", "--size", "128x128", "--steps", "4", "--json", str(tmp_path / "l.json"))
    assert result.returncode == 0, result.stderr
    samples = json.loads((tmp_path / "l.json").read_text())["samples"]
    assert len(samples) == 20
    first, last = samples[0], samples[-1]
    assert last["sent_s"] - last["scheduled_s"] > 0.5  # it waited for the one connection
    assert last["latency_s"] > first["latency_s"] + 0.5

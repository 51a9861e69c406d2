"""``diffusion generate`` and ``diffusion loadtest`` through the OpenAI images API, against a stand-in API
(a stdlib HTTP server in a thread): the request is the documented one, the key travels only in the
Authorization header (from --api-key or DIFFUSION_API_KEY) and never into output, and every error
answer becomes its documented exit code."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_operator.client.cli import app
from diffusion_operator.client.errors import (
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    EndpointUnreachableError,
    ServerRejectedError,
    UsageError,
)
from diffusion_operator.client.loadtest import run_load
from diffusion_operator.client.openai_images import OpenAIImagesClient, error_of, generations_body
from diffusion_operator.client.png import read_png_metadata
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from PIL import Image
from typer.testing import CliRunner

KEY = "sk-unit-0123456789abcdef"


def png(width: int = 16, height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 200, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class StandIn:
    """What the stand-in API saw, and what it answers (``answer``: status and JSON per path)."""

    seen: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    answer: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    address: str = ""

    def reply(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if path in self.answer:
            return self.answer[path]
        if path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": "sdxl", "object": "model"}]}
        if path == "/v1/images/generations":
            seed = body.get("seed", 7)
            return 200, {"created": 1, "data": [{"b64_json": base64.b64encode(png()).decode(), "seed": seed,
                                                  "degraded": False}]}
        return 404, {"error": {"message": f"Invalid URL (GET {path}).", "code": "unknown_url"}}


@pytest.fixture
def api() -> Iterator[StandIn]:
    stand_in = StandIn()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            stand_in.seen.append((self.command, self.path, dict(self.headers), body))
            status, payload = stand_in.reply(self.path, body or {})
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 - http.server's names

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    server.server_close()


def test_the_body_is_openais_with_the_open_servers_extensions_and_unset_fields_left_out() -> None:
    full = ImageRequest(prompt="a fox", negative_prompt="blurry", seed=3, steps=20, width=768, height=1344,
                        guidance_scale=5.0, upscale_factor=2)
    assert generations_body(full) == {
        "prompt": "a fox", "n": 1, "response_format": "b64_json", "output_format": "png", "size": "768x1344",
        "negative_prompt": "blurry", "seed": 3, "num_inference_steps": 20, "guidance_scale": 5.0, "upscale": 2}
    assert generations_body(ImageRequest(prompt="x")) == {"prompt": "x", "n": 1, "response_format": "b64_json",
                                                          "output_format": "png"}
    with pytest.raises(UsageError, match="scheduler"):
        generations_body(ImageRequest(prompt="x", scheduler="euler"))


@pytest.mark.parametrize(("status", "error", "kind", "words"), [
    (401, {"message": "Incorrect API key provided.", "code": "invalid_api_key"}, ServerRejectedError,
     "--api-key or set DIFFUSION_API_KEY"),
    (429, {"message": "Rate limit reached.", "code": "rate_limit_exceeded"}, ServerRejectedError,
     "429 rate_limit_exceeded"),
    (400, {"message": "n: 9 is over 4", "code": "invalid_value"}, ServerRejectedError, "n: 9 is over 4"),
    (503, {"message": "still starting", "code": "still_starting"}, EndpointUnreachableError, "cannot serve now"),
    (500, {"message": "The model failed", "code": "model_error"}, ServerRejectedError, "model_error"),
])
def test_each_error_answer_becomes_its_typed_error(status: int, error: dict[str, str], kind: type, words: str) -> None:
    raised = error_of(status, json.dumps({"error": error}).encode(), "h:1")
    assert isinstance(raised, kind) and words in str(raised)
    assert isinstance(error_of(502, b"<html>bad gateway</html>", "h:1"), ServerRejectedError)


def test_the_key_goes_in_the_authorization_header_on_one_kept_alive_connection(api: StandIn) -> None:
    client = OpenAIImagesClient(api.address, KEY, timeout_s=5)
    try:
        client.check_ready()
        first = client.generate(ImageRequest(prompt="a fox", seed=11))
        second = client.generate(ImageRequest(prompt="a fox", seed=12))
    finally:
        client.close()
    assert (first.seed, second.seed) == (11, 12) and first.data == png()
    assert [(method, path) for method, path, _, _ in api.seen] == [
        ("GET", "/v1/models"), ("POST", "/v1/images/generations"), ("POST", "/v1/images/generations")]
    assert all(headers["Authorization"] == f"Bearer {KEY}" for _, _, headers, _ in api.seen)


def test_kserve_requests_carry_the_key_too(api: StandIn) -> None:
    api.answer["/v2/models/sdxl/ready"] = (200, {})
    client = TritonClient(Endpoint(api.address), timeout_s=5, api_key=KEY)
    try:
        client.check_ready()
    finally:
        client.close()
    assert api.seen[-1][1] == "/v2/models/sdxl/ready" and api.seen[-1][2]["Authorization"] == f"Bearer {KEY}"


def test_generate_through_the_api_writes_the_png_with_prompt_and_seed(api: StandIn, tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    result = CliRunner().invoke(app, ["generate", "a fox", "--api", "--url", api.address, "--seed", "5",
                                      "--size", "768x1344", "-o", str(out)], env={"DIFFUSION_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and KEY not in result.output
    assert read_png_metadata(out)["seed"] == "5" and read_png_metadata(out)["prompt"] == "a fox"
    body = api.seen[-1][3]
    assert body["size"] == "768x1344" and body["seed"] == 5 and api.seen[-1][2]["Authorization"] == f"Bearer {KEY}"


def test_a_wrong_key_is_exit_5_and_never_printed(api: StandIn, tmp_path: Path) -> None:
    api.answer["/v1/models"] = (401, {"error": {"message": "Incorrect API key provided.",
                                                "code": "invalid_api_key"}})
    result = CliRunner().invoke(app, ["generate", "x", "--api", "--url", api.address, "--api-key", "sk-wrong-one",
                                      "-o", str(tmp_path / "x.png")])
    assert result.exit_code == EXIT_REJECTED, result.output
    assert "invalid_api_key" in result.output and "sk-wrong-one" not in result.output
    assert not (tmp_path / "x.png").exists()


def test_no_api_at_the_address_is_exit_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "x", "--api", "--url", "127.0.0.1:1", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == EXIT_UNREACHABLE, result.output


@pytest.mark.parametrize("command", [["generate", "x"], ["loadtest", "--rate", "1", "--duration", "1"]])
def test_the_api_over_grpc_is_a_usage_mistake(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--api", "--url", "127.0.0.1:1", "--protocol", "grpc"])
    assert result.exit_code == EXIT_USAGE and "--api speaks HTTP" in result.output


def test_loadtest_through_the_api_sends_one_image_per_request_with_the_key(api: StandIn, tmp_path: Path) -> None:
    saved = tmp_path / "load.json"
    result = CliRunner().invoke(app, ["loadtest", "--api", "--url", api.address, "--rate", "20", "--duration", "0.5",
                                      "--size", "64x64", "--sla", "2s", "--json", str(saved)],
                                env={"DIFFUSION_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    payload = json.loads(saved.read_text())
    assert payload["api"] is True and payload["summary"]["requests"] == 10 and payload["summary"]["succeeded"] == 10
    assert KEY not in saved.read_text() and KEY not in result.output
    generations = [seen for seen in api.seen if seen[1] == "/v1/images/generations"]
    assert sorted(body["seed"] for _, _, _, body in generations) == list(range(10))
    assert all(body["n"] == 1 and body["size"] == "64x64" for _, _, _, body in generations)
    assert all(headers["Authorization"] == f"Bearer {KEY}" for _, _, headers, _ in api.seen)


def test_refusals_under_load_are_failed_samples_with_the_apis_reason(api: StandIn) -> None:
    api.answer["/v1/images/generations"] = (429, {"error": {"message": "Rate limit reached for key 'a'.",
                                                            "code": "rate_limit_exceeded"}})
    result = run_load(Endpoint(api.address), ImageRequest(prompt="x"), [0.0, 0.01, 0.02], concurrency=2,
                      api=True, api_key=KEY, timeout_s=5)
    assert [s.ok for s in result.samples] == [False, False, False]
    assert all("rate_limit_exceeded" in (s.error or "") for s in result.samples)
    assert result.statistics is None, "the stand-in has no KServe statistics: the queue share is left out"

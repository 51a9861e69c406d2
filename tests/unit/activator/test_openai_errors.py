"""OpenAI's error object with the right status: the gate's refusals as the API states them, Triton's
own refusals split into the request's fault and the service's, Retry-After where a retry helps."""

from __future__ import annotations

import json

import pytest
from diffusion_operator.activator.gate import CannotStartError, HoldTimeoutError, QueueFullError, ShuttingDownError
from diffusion_operator.activator.openai import errors


@pytest.mark.parametrize(("hold", "status", "code", "retry"), [
    (QueueFullError("full"), 429, "queue_full", "1"),
    (HoldTimeoutError("late"), 503, "still_starting", "1"),
    (ShuttingDownError("bye"), 503, "service_unavailable", "1"),
    (CannotStartError("no GPU"), 503, "cannot_start", None),
])
def test_the_gates_refusals(hold, status, code, retry):
    response = errors.error_response(errors.from_hold(hold))
    assert response.status == status
    assert response.headers.get("Retry-After") == retry
    assert json.loads(response.body)["error"]["code"] == code


def test_the_error_object_has_openais_four_fields():
    response = errors.error_response(errors.invalid("n", "n must be between 1 and 4"))
    assert json.loads(response.body) == {"error": {"message": "n must be between 1 and 4",
                                                   "type": "invalid_request_error", "param": "n",
                                                   "code": "invalid_value"}}


def test_retry_after_is_whole_seconds_rounded_up():
    response = errors.error_response(errors.rate_limited("slow down", 19.2))
    assert response.status == 429 and response.headers["Retry-After"] == "20"


@pytest.mark.parametrize(("status", "expected"), [(400, 400), (404, 400), (500, 500), (503, 500)])
def test_tritons_refusals(status, expected):
    assert errors.upstream(status, "width: 2048 is too large").status == expected


@pytest.mark.parametrize(("message", "status", "param"), [
    ("invalid request: width: 2048 is too large", 400, None),
    ("invalid request: image: no foreground found", 400, "image"),
    ("photoshoot failed: CUDA out of memory", 500, None),
])
def test_a_pipeline_models_500_is_the_requests_fault_when_it_says_so(message, status, param):
    """The Python-backend models answer every error 500; ``invalid request: `` marks the request's fault."""
    error = errors.upstream(500, message)
    assert (error.status, error.param) == (status, param)


def test_a_missing_and_a_wrong_key_read_differently():
    assert "didn't provide" in errors.unauthorized(presented=False).message
    assert "Incorrect API key" in errors.unauthorized(presented=True).message

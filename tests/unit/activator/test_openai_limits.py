"""Per-key limits: a minute's worth of requests at once, then one per 60/rate seconds, each refusal a
429 that says when to come back; in-flight requests counted per key and released once. Upload bytes
are counted per replica, across keys."""

from __future__ import annotations

import pytest
from diffusion_operator.activator.openai.errors import ApiError
from diffusion_operator.activator.openai.limits import KeyLimiter, UploadBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_a_minutes_worth_then_waits_for_the_next_token():
    clock = Clock()
    limiter = KeyLimiter(requests_per_minute=3, max_concurrent=None, clock=clock)
    for _ in range(3):
        limiter.admit("alice").release()
    with pytest.raises(ApiError) as refused:
        limiter.admit("alice")
    assert (refused.value.status, refused.value.code) == (429, "rate_limit_exceeded")
    assert refused.value.retry_after_s == pytest.approx(20.0)
    clock.now += 19.0
    with pytest.raises(ApiError) as again:
        limiter.admit("alice")
    assert again.value.retry_after_s == pytest.approx(1.0)
    clock.now += 1.0
    limiter.admit("alice").release()


def test_keys_are_limited_apart():
    limiter = KeyLimiter(requests_per_minute=1, max_concurrent=None, clock=Clock())
    limiter.admit("alice").release()
    limiter.admit("bob").release()
    with pytest.raises(ApiError):
        limiter.admit("alice")


def test_concurrency_is_checked_first_and_spends_no_token():
    limiter = KeyLimiter(requests_per_minute=2, max_concurrent=1, clock=Clock())
    lease = limiter.admit("alice")
    with pytest.raises(ApiError) as refused:
        limiter.admit("alice")
    assert refused.value.code == "concurrency_limit_exceeded" and refused.value.retry_after_s == 1.0
    lease.release()
    lease.release()  # idempotent: one request, one slot
    assert limiter.in_flight("alice") == 0
    limiter.admit("alice").release()


def test_without_limits_everything_is_admitted():
    limiter = KeyLimiter(requests_per_minute=None, max_concurrent=None, clock=Clock())
    leases = [limiter.admit("alice") for _ in range(1000)]
    assert limiter.in_flight("alice") == 1000
    for lease in leases:
        lease.release()


def test_uploads_share_one_budget_per_replica_and_a_full_one_says_retry():
    budget = UploadBudget(total_bytes=100)
    first = budget.reserve(60)
    with pytest.raises(ApiError) as busy:
        budget.reserve(50)
    assert (busy.value.status, busy.value.code, busy.value.retry_after_s) == (429, "uploads_busy", 1.0)
    first.grow(30, "n")
    assert budget.used == 90
    first.release()
    first.release()
    assert budget.used == 0
    budget.reserve(100).release()


def test_an_edit_that_alone_needs_more_than_the_budget_is_a_400_naming_what_to_lower():
    budget = UploadBudget(total_bytes=100)
    reservation = budget.reserve(40)
    with pytest.raises(ApiError) as never:
        reservation.grow(70, "n")
    assert (never.value.status, never.value.param) == (400, "n")
    assert "lower n" in never.value.message
    reservation.release()
    assert budget.used == 0

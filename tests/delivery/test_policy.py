"""Delivery policy with an explicit clock: backoff, budgets, breaker."""

from __future__ import annotations

import random

import pytest

from batchrelay.delivery.policy import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    RetryConfig,
    RetryPolicy,
    SendBudget,
)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(RetryConfig(initial_delay=1, max_delay=60), random.Random(1))
    for attempts in range(1, 12):
        ceiling = min(60, 2 ** (attempts - 1))
        delays = [policy.delay(attempts) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole window, not clumped


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(RetryConfig(initial_delay=1, max_delay=2), random.Random(1))
    assert all(policy.delay(1, retry_after=30) >= 30 for _ in range(50))


@pytest.mark.parametrize(
    ("attempts", "age", "exhausted"),
    [(1, 0, False), (9, 100, False), (10, 100, True), (2, 3600, True), (2, 3599.9, False)],
)
def test_exhausted_by_attempts_or_age(attempts: int, age: float, exhausted: bool) -> None:
    policy = RetryPolicy(RetryConfig(max_attempts=10, max_age=3600))
    assert policy.exhausted(attempts, first_attempt=1000, now=1000 + age) is exhausted


def test_the_last_try_is_at_max_age_and_retry_after_still_wins() -> None:
    policy = RetryPolicy(
        RetryConfig(max_age=60, initial_delay=100, max_delay=100), random.Random(3)
    )
    assert all(policy.next_attempt(5, 0, 50, None) <= 60 for _ in range(50))
    assert policy.next_attempt(5, 0, 50, retry_after=30) == 80


def test_budget_of_20_per_minute() -> None:
    budget = SendBudget([(20, 60)])
    assert sum(budget.try_take(0) for _ in range(25)) == 20
    assert budget.wait(0) == pytest.approx(60)
    assert not budget.try_take(59.9)
    assert budget.try_take(60.0)


def test_no_sliding_minute_ever_holds_more_than_the_limit() -> None:
    budget = SendBudget([(20, 60)])
    times = [t / 4 for t in range(4 * 300) if budget.try_take(t / 4)]
    assert len(times) == 100  # 20 per minute over five minutes, no more, no fewer
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60) <= 20


def test_budget_with_two_limits_obeys_both() -> None:
    budget = SendBudget([(5, 1), (100, 60)])
    assert sum(budget.try_take(0) for _ in range(10)) == 5
    total = 5 + sum(budget.try_take(t / 10) for t in range(1, 599) for _ in range(3))
    assert total == 100  # the per-minute limit binds after twenty seconds at 5/s
    assert SendBudget([]).available(0) == float("inf")


def test_breaker_opens_probes_and_closes() -> None:
    breaker = CircuitBreaker(BreakerConfig(failures=3, cooldown=10, max_cooldown=40))
    for _ in range(3):
        assert breaker.allow(0)
        breaker.record_failure(0)
    assert breaker.state(5) is BreakerState.OPEN and not breaker.allow(5)
    assert breaker.state(10) is BreakerState.HALF_OPEN
    assert breaker.allow(10) and not breaker.allow(10)  # one probe at a time
    breaker.record_failure(10)  # probe failed: open again, cooldown doubled
    assert breaker.retry_in(10) == 20 and not breaker.allow(29)
    assert breaker.allow(30)
    breaker.record_success()
    assert breaker.state(30) is BreakerState.CLOSED and breaker.allow(30)

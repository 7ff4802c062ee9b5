"""Delivery policy, pure and clock-free: retries, send budgets, circuit breakers.

Every method takes ``now`` (monotonic seconds) so the dispatcher's clock can be faked in
tests and the same policy objects serve replays. Nothing here sleeps or does I/O.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from batchrelay.notifiers.config import BreakerConfig, RetryConfig


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    config: RetryConfig
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failure (1-based).

        Full jitter spreads retries of many notifications over the whole window instead of
        synchronising them; a server's ``Retry-After`` is a floor, never shortened.
        """
        ceiling = min(self.config.max_delay, self.config.initial_delay * 2 ** (attempts - 1))
        jittered = self.rng.uniform(0, ceiling)
        return max(jittered, retry_after) if retry_after is not None else jittered

    def exhausted(self, attempts: int, first_attempt: float, now: float) -> bool:
        """True once ``attempts`` failed or the first one is ``max_age`` old: dead-letter it."""
        too_many = attempts >= self.config.max_attempts
        too_old = now - first_attempt >= self.config.max_age
        return too_many or too_old

    def next_attempt(
        self, attempts: int, first_attempt: float, now: float, retry_after: float | None
    ) -> float:
        """When to try again: the backoff, but no later than the age bound (so the last try
        happens at ``max_age``, not before), and never before ``retry_after``."""
        planned = min(now + self.delay(attempts), first_attempt + self.config.max_age)
        return max(planned, now + retry_after) if retry_after is not None else planned


class SendBudget:
    """Sliding windows, one per platform limit (e.g. 5 per second AND 100 per minute).

    A window remembers its last ``count`` send times, so no span of ``seconds`` ever holds
    more than ``count`` sends: what a platform's "20 messages per minute" means (a token
    bucket would let through a full burst plus its refill within one minute). ``limits``
    are (count, seconds) pairs; an empty list means unlimited.
    """

    def __init__(self, limits: Sequence[tuple[int, float]]) -> None:
        self._windows = [_Window(count, seconds) for count, seconds in limits]

    def available(self, now: float) -> float:
        """How many sends the budget allows right now (``inf`` when unlimited)."""
        return min((w.free(now) for w in self._windows), default=float("inf"))

    def try_take(self, now: float) -> bool:
        if self.available(now) < 1:
            return False
        for window in self._windows:
            window.sent.append(now)
        return True

    def wait(self, now: float) -> float:
        """Seconds until one send is allowed."""
        return max((w.wait(now) for w in self._windows), default=0.0)

    @property
    def span(self) -> float:
        """The longest window: how far back sends still count."""
        return max((w.seconds for w in self._windows), default=0.0)

    def record(self, times: Iterable[float]) -> None:
        """Count sends made earlier (oldest first), by another sender of this receiver."""
        for at in times:
            for window in self._windows:
                window.sent.append(at)


class _Window:
    def __init__(self, count: int, seconds: float) -> None:
        self.count = count
        self.seconds = seconds
        self.sent: deque[float] = deque(maxlen=count)

    def free(self, now: float) -> int:
        while self.sent and self.sent[0] <= now - self.seconds:
            self.sent.popleft()
        return self.count - len(self.sent)

    def wait(self, now: float) -> float:
        if self.free(now) > 0:
            return 0.0
        return self.sent[0] + self.seconds - now


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops hammering a receiver that keeps failing; lets one probe through to test it."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self._failures = 0
        self._opened_at: float | None = None
        self._cooldown = config.cooldown
        self._probing = False

    def state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if now - self._opened_at >= self._cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self, now: float) -> bool:
        """Whether a send may start now. In half-open state only one probe at a time."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def retry_in(self, now: float) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - now)

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._cooldown = self.config.cooldown
        self._probing = False

    def record_failure(self, now: float) -> None:
        if self._probing:  # the probe failed: stay open, and wait longer next time
            self._probing = False
            self._opened_at = now
            self._cooldown = min(self.config.max_cooldown, self._cooldown * 2)
            return
        self._failures += 1
        if self._failures >= self.config.failures and self._opened_at is None:
            self._opened_at = now

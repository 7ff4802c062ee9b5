"""Pacing: an injectable clock and a token bucket, so tests never really sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time and sleeping; :class:`SystemClock` in production, a fake in tests."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenBucket:
    """At most ``rate`` tokens per second on average, bursts up to ``burst``; 0 = unpaced.

    A caller may take more tokens than ``burst`` at once (an MNS batch of 16): it waits
    only until ``min(n, burst)`` are there and leaves the bucket in debt, so the next caller
    waits for the rest. The average rate holds and a big request never waits forever.
    """

    def __init__(self, rate: float, *, burst: float = 1.0, clock: Clock | None = None) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock or SystemClock()
        self._tokens = burst
        self._updated = self._clock.monotonic()
        self._lock = asyncio.Lock()  # waiters queue in order instead of racing for tokens

    async def acquire(self, tokens: int = 1) -> None:
        if self.rate == 0:
            return
        async with self._lock:
            self._refill()
            need = min(tokens, self.burst)
            if self._tokens < need:
                await self._clock.sleep((need - self._tokens) / self.rate)
                self._refill()
            self._tokens -= tokens

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

"""Pacing and the delivery loop, on a fake clock: nothing here really sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from batchrelay.simulate import Counts, SimulateOptions, TokenBucket, deliver, generate
from batchrelay.simulate.runner import due_times, planned_bodies

from .conftest import START, FakeClock

pytestmark = pytest.mark.timeout(10)


async def test_rate_zero_never_sleeps(clock: FakeClock) -> None:
    bucket = TokenBucket(0, clock=clock)
    for _ in range(100):
        await bucket.acquire()
    assert clock.sleeps == []


async def test_bucket_holds_the_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(10, clock=clock)
    for _ in range(21):
        await bucket.acquire()
    # The first token is in the bucket; the other 20 come at 10 per second.
    assert clock.now == pytest.approx(2.0)


async def test_big_request_goes_first_and_the_next_one_pays(clock: FakeClock) -> None:
    bucket = TokenBucket(5, clock=clock)
    await bucket.acquire(16)
    assert clock.now == 0
    await bucket.acquire(16)
    assert clock.now == pytest.approx(3.2)  # 15 tokens of debt plus 1, at 5 per second


async def test_idle_time_refills_only_up_to_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(10, burst=3, clock=clock)
    clock.now = 100.0
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(-1)


class CountingTarget:
    """A Target that records chunks and how many sends overlapped."""

    name = "counting"

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self.chunks: list[Sequence[bytes]] = []
        self.in_flight = self.most_in_flight = 0

    async def send(self, bodies: Sequence[bytes]) -> Counts:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.chunks.append(bodies)
        self.in_flight -= 1
        return Counts(sent=len(bodies))

    async def aclose(self) -> None:
        return None


async def test_deliver_paces_chunks_and_bounds_concurrency(clock: FakeClock) -> None:
    target = CountingTarget(chunk_size=16)
    bodies = [str(n).encode() for n in range(100)]
    counts = await deliver(bodies, target, rate=50, concurrency=2, clock=clock)
    assert counts == Counts(sent=100)
    assert [len(c) for c in target.chunks] == [16] * 6 + [4]
    assert target.most_in_flight <= 2
    # The last chunk may start once its first token is there: after 96 of the 100.
    assert clock.now == pytest.approx(96 / 50, abs=0.05)


async def test_deliver_unpaced_does_not_sleep(clock: FakeClock) -> None:
    target = CountingTarget(chunk_size=1)
    counts = await deliver([b"x"] * 20, target, concurrency=8, clock=clock)
    assert counts.sent == 20 and clock.sleeps == [] and target.most_in_flight <= 8


def test_counts_add_up() -> None:
    total = Counts(1, 2, 1, {"http_503": 1}) + Counts(3, 0, 2, {"http_503": 1, "connection": 1})
    assert total == Counts(4, 2, 3, {"connection": 1, "http_503": 2})


async def test_on_time_sends_each_body_when_its_time_comes(clock: FakeClock) -> None:
    target = CountingTarget(chunk_size=16)
    bodies = [str(n).encode() for n in range(5)]
    counts = await deliver(bodies, target, concurrency=2, clock=clock, due=[0, 0, 1.5, 1.5, 4])
    assert counts == Counts(sent=5)
    assert [list(c) for c in target.chunks] == [[b"0", b"1"], [b"2", b"3"], [b"4"]]
    assert clock.sleeps == [pytest.approx(1.5), pytest.approx(2.5)]


def test_events_follow_the_wall_clock_unless_time_or_rate_is_fixed() -> None:
    assert SimulateOptions().on_time
    assert not SimulateOptions(rate=0).on_time
    assert not SimulateOptions(start_time=START).on_time
    assert not SimulateOptions(dry_run=True).on_time


def test_due_times_are_the_publish_times_in_send_order() -> None:
    options = SimulateOptions(kind="mixed", batches=3, tasks=10, duplicates=0.2, shuffle=True)
    started = datetime.now(UTC)
    traffic = generate(options.spec(started))
    plan = planned_bodies(traffic, options)
    due = due_times(traffic, plan, options, started)
    assert len(due) == len(plan) and due == sorted(due)
    published = [(e.published - started).total_seconds() for e in traffic.events]
    assert due[-1] == pytest.approx(max(published))
    assert 0 <= due[0] - min(published) < 60  # a shuffled-back first event holds the rest

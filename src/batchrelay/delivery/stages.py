"""The dispatcher's stages and how they compose: one call shape, ``Round -> Round``.

A :class:`Round` is one receiver's due deliveries in one tick. Each stage takes a round
and returns what goes on: the breaker and the budget pass fewer deliveries (the rest wait
in the outbox), the send stage notes what each send gave, the record stage writes it.
:class:`Chain` runs stages in order; :class:`Fanout` runs its stage once per delivery,
concurrently, at most ``limit`` at a time (a receiver's ``max_in_flight``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from batchrelay.notifiers.base import SendError
from batchrelay.store.contracts import Delivery


@dataclass(frozen=True, slots=True)
class Sent:
    """What one send gave: how long it took, and the error (None: delivered)."""

    seconds: float
    error: SendError | None = None


@dataclass(frozen=True, slots=True)
class Round:
    """One receiver's deliveries in one tick, at ``now`` (epoch seconds)."""

    receiver: str
    now: float
    deliveries: Sequence[Delivery]
    sent: dict[str, Sent] = field(default_factory=dict)  # delivery id -> its send

    def passing(self, deliveries: Sequence[Delivery]) -> Round:
        """This round with only ``deliveries`` going on."""
        return Round(self.receiver, self.now, deliveries, self.sent)


Stage = Callable[[Round], Awaitable[Round]]


class Chain:
    """Stages in order; stops early once no delivery is left."""

    def __init__(self, *stages: Stage) -> None:
        self.stages = stages

    async def __call__(self, work: Round) -> Round:
        for stage in self.stages:
            if not work.deliveries:
                break
            work = await stage(work)
        return work


class Fanout:
    """``stage`` once per delivery, concurrently, at most ``limit`` at a time; then, when
    given, ``then`` over the deliveries ``stage`` has finished, in batches: whenever it is
    idle, ``then`` takes every one finished since its last call. So the record stage writes
    many outcomes at once while sends go on, and no send slot waits for a write."""

    def __init__(self, stage: Stage, limit: int, then: Stage | None = None) -> None:
        self.stage, self.then = stage, then
        self.slots = asyncio.Semaphore(limit)

    async def __call__(self, work: Round) -> Round:
        sent = dict(work.sent)
        finished: list[Delivery] = []
        ready = asyncio.Event()

        async def one(delivery: Delivery) -> None:
            try:
                async with self.slots:
                    sent.update((await self.stage(work.passing([delivery]))).sent)
            finally:  # counted even when the stage raised, so the batches below end
                finished.append(delivery)
                ready.set()

        sends = asyncio.gather(*(one(d) for d in work.deliveries), return_exceptions=True)
        try:
            if self.then is not None:
                await _batches(self.then, work, sent, finished, ready)
            outcomes = await sends
        except BaseException:  # a failed write: what is in flight is sent again after its lease
            sends.cancel()
            raise
        failures = [each for each in outcomes if isinstance(each, BaseException)]
        if failures:
            raise failures[0]
        return Round(work.receiver, work.now, work.deliveries, sent)


async def _batches(
    then: Stage, work: Round, sent: dict[str, Sent], finished: list[Delivery], ready: asyncio.Event
) -> None:
    """``then`` over ``finished`` as it fills, until every delivery of ``work`` has passed."""
    left = len(work.deliveries)
    while left:
        await ready.wait()
        ready.clear()
        batch = finished[:]
        del finished[:]
        left -= len(batch)
        await then(Round(work.receiver, work.now, batch, sent))

"""Stage two of delivery: the circuit breaker. A receiver that keeps failing gets a probe,
not a flood: closed, every due delivery goes on; half-open, one probe goes; open, none.
What is held back is postponed in the outbox until the breaker may let a probe through."""

from __future__ import annotations

from batchrelay.delivery.policy import BreakerState, CircuitBreaker
from batchrelay.delivery.stages import Round
from batchrelay.store.contracts import SECOND, Outbox


class Breaker:
    def __init__(self, breaker: CircuitBreaker, outbox: Outbox, tick: float) -> None:
        self.breaker, self.outbox, self.tick = breaker, outbox, tick

    async def __call__(self, work: Round) -> Round:
        breaker, now, due = self.breaker, work.now, work.deliveries
        if breaker.state(now) is BreakerState.CLOSED:
            return work
        allowed = list(due[:1]) if due and breaker.allow(now) else []
        held = [d.id for d in due[len(allowed) :]]
        if held:
            until = int((now + max(breaker.retry_in(now), self.tick)) * SECOND)
            await self.outbox.postpone(held, until, int(now * SECOND))
        return work.passing(allowed)

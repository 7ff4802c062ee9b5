"""Stage three of delivery: the send budget (a platform's "20 per minute"). When more is
due than the budget allows, the due deliveries are coalesced into digests instead of
waiting in line or failing; what still does not fit is postponed until the budget has
room. Each delivery let through spends one send of the budget."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from batchrelay.delivery.policy import SendBudget
from batchrelay.delivery.stages import Round
from batchrelay.metrics import Metrics
from batchrelay.store.contracts import SECOND, Delivery, Outbox

log = structlog.get_logger(__name__)


class Budget:
    def __init__(
        self,
        budget: Callable[[], SendBudget],  # the receiver's budget now (reseeded on takeover)
        outbox: Outbox,
        metrics: Metrics,
        max_events: int,
        lease: float,
        tick: float,
    ) -> None:
        self.budget, self.outbox, self.metrics = budget, outbox, metrics
        self.max_events, self.lease, self.tick = max_events, lease, tick

    async def __call__(self, work: Round) -> Round:
        budget, now = self.budget(), work.now
        passing = await self._within(budget, work)
        for _ in passing:
            budget.try_take(now)
        return work.passing(passing)

    async def _within(self, budget: SendBudget, work: Round) -> list[Delivery]:
        name, now, due = work.receiver, work.now, list(work.deliveries)
        available = budget.available(now)
        if len(due) <= available:
            return due
        us = int(now * SECOND)
        if available >= 1 and len(due) > 1 and self.max_events > 1:  # else: one per message
            digests = await self.outbox.coalesce(due, self.max_events, us)
            self.metrics.coalesced.labels(receiver=name).inc(len(due))
            log.info("delivery.coalesced", receiver=name, deliveries=len(due), digests=len(digests))
            due = await self.outbox.claim(digests, us, int(self.lease * SECOND))
            if len(due) <= budget.available(now):
                return due
        keep = due[: int(available)]
        held = [d.id for d in due[len(keep) :]]
        until = int((now + max(budget.wait(now), self.tick)) * SECOND)
        await self.outbox.postpone(held, until, us)
        return keep

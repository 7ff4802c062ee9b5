"""The dispatcher: the outbox sent through five stages, once per tick.

1. hold and mute (``hold.py``): due notification groups become deliveries, each event
   decided first — sent, or only recorded as muted, silenced or inhibited;
2. the circuit breaker (``breaker.py``): a receiver that keeps failing gets a probe;
3. the send budget (``budget.py``): more due than the budget allows is coalesced into
   digests, the rest waits;
4. render and send (``send.py``), at most ``max_in_flight`` at once per receiver;
5. record (``record.py``): delivered, or retried later, or a dead letter (then the
   fallback receiver); what finished sending meanwhile is recorded in one write.

Stages 2 to 5 share one call shape (``stages.py``) and run as one chain per receiver over
the deliveries claimed for it: due ones, and ones whose sender died (their lease expired).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping

import structlog

from batchrelay.delivery.breaker import Breaker
from batchrelay.delivery.budget import Budget
from batchrelay.delivery.config import DeliveryConfig, SubscriptionsConfig
from batchrelay.delivery.hold import Check, Hold
from batchrelay.delivery.policy import BreakerState, CircuitBreaker, RetryPolicy, SendBudget
from batchrelay.delivery.record import Record, Recorder
from batchrelay.delivery.send import BatchReads, Send
from batchrelay.delivery.stages import Chain, Fanout, Round, Stage
from batchrelay.delivery.subscriptions import SubscriptionDelivery
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, Notifier
from batchrelay.notifiers.config import ChannelConfig
from batchrelay.routing.tree import RouteTree
from batchrelay.store.base import Store
from batchrelay.store.contracts import SECOND, Delivery

log = structlog.get_logger(__name__)

Clock = Callable[[], float]  # epoch seconds
CLAIM_LIMIT = 512  # deliveries claimed per tick
DEPTH_EVERY = 1.0  # seconds between reads of the outbox depth (a metric: two counts)


class Dispatcher:
    """Sends what the outbox holds; one instance per daemon.

    ``config`` is the ``delivery`` section (tick, lease, ``max_in_flight``); ``hold`` gives
    the silence and inhibition check before each flush (``hold.py``);
    ``active`` says whether this replica runs the timers now (False: another one sends).
    """

    def __init__(
        self,
        store: Store,
        tree: RouteTree | None,
        receivers: Mapping[str, ChannelConfig],
        notifiers: Mapping[str, Notifier],
        metrics: Metrics,
        *,
        config: DeliveryConfig | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        hold: Callable[[int], Awaitable[Check | None]] | None = None,
        active: Callable[[], bool] | None = None,
        public_url: str | None = None,
        subscriptions: SubscriptionsConfig | None = None,
    ) -> None:
        self.store, self.tree, self.receivers = store, tree, receivers
        self.notifiers, self.metrics, self.clock = notifiers, metrics, clock
        config = config or DeliveryConfig()
        self.tick_seconds, self.lease, self.active = config.tick, config.lease, active
        self.outbox = store.outbox
        self.hold = Hold(self.outbox, tree, receivers, hold)
        self.recorder = Recorder(self.outbox, metrics, clock)
        self.reads = BatchReads(store)
        self.budgets = self._fresh_budgets()
        self._budgets_seeded = False
        self.breakers = {n: CircuitBreaker(c.breaker) for n, c in receivers.items()}
        rng = rng or random.Random()
        self.retry = {n: RetryPolicy(c.retry, rng) for n, c in receivers.items()}
        self.max_in_flight = config.max_in_flight
        self.subscriptions = (
            SubscriptionDelivery(store.subscriptions, subscriptions, self.recorder, self.reads,
                                 metrics, tick=config.tick, lease=config.lease,
                                 max_in_flight=config.max_in_flight, rng=rng,
                                 notify=notifiers.get(subscriptions.notify or ""))
            if subscriptions is not None and subscriptions.enabled else None
        )  # fmt: skip
        self.public_url = public_url
        self._stopping = asyncio.Event()
        self._ahead: asyncio.Future[list[Delivery]] | None = None  # the next page, claimed
        self._next_depth = 0.0

    @property
    def public_url(self) -> str | None:
        """``server.public_url``, for links in messages."""
        return self._public_url

    @public_url.setter
    def public_url(self, value: str | None) -> None:
        self._public_url = value
        self.chains = {name: self._chain(name) for name in self.notifiers if name in self.receivers}

    def _chain(self, name: str) -> Stage:
        config = self.receivers[name]
        fallback = config.fallback if config.fallback in self.notifiers else None
        send = Send(self.notifiers[name], self.reads, self.public_url)
        record = Record(self.recorder, self.breakers[name], self.retry[name], fallback)
        return Chain(
            Breaker(self.breakers[name], self.outbox, self.tick_seconds),
            Budget(
                lambda: self.budgets[name],
                self.outbox,
                self.metrics,
                config.max_events,
                self.lease,
                self.tick_seconds,
            ),
            Fanout(send, self.max_in_flight, then=record),
        )

    async def run(self) -> None:
        """Tick every ``tick`` seconds until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # a bad tick must not end delivery; the next one retries
                log.exception("dispatcher.tick_failed")
            if self._ahead is not None:  # a backlog: the next page now, not a tick later
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)
        await self._release_ahead()

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Release what sending to subscriptions holds (its HTTP session)."""
        if self.subscriptions is not None:
            await self.subscriptions.close()

    async def tick(self) -> int:
        """One pass; returns how many deliveries were attempted."""
        if self.active is not None and not self.active():
            self._budgets_seeded = False  # another replica sends: its sends count next time
            await self._release_ahead()
            return 0
        now = self.clock()
        us = int(now * SECOND)
        if not self._budgets_seeded:
            await self._seed_budgets(now)
        self.reads.clear()
        await self.hold(now)
        if self.subscriptions is not None:
            await self.subscriptions.check_health(now)
        due = await self._claim(us)
        if len(due) == CLAIM_LIMIT:  # a backlog: its next page is claimed while this one goes
            self._ahead = asyncio.ensure_future(self._claim_due(us))
        self.reads.prefetch(due)
        by_receiver: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in due:
            by_receiver[delivery.receiver].append(delivery)
        rounds = [
            self._receiver_pass(Round(name, now, items)) for name, items in by_receiver.items()
        ]
        counts = await asyncio.gather(*rounds)
        await self._export_depth()
        return sum(counts)

    async def _claim(self, us: int) -> list[Delivery]:
        """The page claimed ahead, or the deliveries due now: at most :data:`CLAIM_LIMIT`."""
        ahead, self._ahead = self._ahead, None
        return await (ahead if ahead is not None else self._claim_due(us))

    async def _claim_due(self, us: int) -> list[Delivery]:
        return await self.outbox.claim_due(us, int(self.lease * SECOND), CLAIM_LIMIT)

    async def _release_ahead(self) -> None:
        """A page claimed ahead that this replica will not send (it stops, or another one
        sends now) is due again at once, not only when its lease ends."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        try:
            claimed = await ahead
        except Exception:  # the claim failed: nothing is held
            log.exception("dispatcher.claim_failed")
            return
        if claimed:
            us = int(self.clock() * SECOND)
            await self.outbox.postpone([d.id for d in claimed], us, us)

    async def _receiver_pass(self, work: Round) -> int:
        chain = self.chains.get(work.receiver)
        if chain is None and self.subscriptions is not None:
            chain = self.subscriptions.chain(work.receiver)
        if chain is None:  # removed from the config while messages waited for it
            for delivery in work.deliveries:
                await self.recorder.finish(delivery, work.now, 0.0, "dead",
                                           FailureReason.CLIENT_ERROR,
                                           "receiver is no longer configured")  # fmt: skip
            return 0
        done = await chain(work)
        return len(done.sent)

    async def _seed_budgets(self, now: float) -> None:
        """Start each send budget with the attempts any sender made within its windows, so
        a replica taking over sending (or a restart) does not spend a budget twice."""
        self.budgets = self._fresh_budgets()
        span = max((b.span for b in self.budgets.values()), default=0.0)
        if span > 0:
            recent: dict[str, list[float]] = defaultdict(list)
            for receiver, at in await self.outbox.recent_attempts(int((now - span) * SECOND)):
                recent[receiver].append(at / SECOND)
            for name, budget in self.budgets.items():
                budget.record(recent.get(name, ()))
        self._budgets_seeded = True

    def _fresh_budgets(self) -> dict[str, SendBudget]:
        return {name: SendBudget(c.rate_limits) for name, c in self.receivers.items()}

    async def _export_depth(self) -> None:
        now = self.clock()
        if now >= self._next_depth:
            self._next_depth = now + DEPTH_EVERY
            for kind, value in (await self.outbox.depth()).items():
                self.metrics.outbox_depth.labels(kind=kind).set(value)
        for name, breaker in self.breakers.items():
            current = breaker.state(now)
            for state in BreakerState:
                gauge = self.metrics.breaker_state.labels(receiver=name, state=state.value)
                gauge.set(1 if state is current else 0)

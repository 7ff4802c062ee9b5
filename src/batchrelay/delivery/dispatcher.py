"""The dispatcher: outbox → group → (coalesce) → send → record.

Each tick it flushes due notification groups into deliveries, claims due deliveries (and
ones whose sender died: their lease expired), and sends them per receiver under three
guards: the circuit breaker (a receiver that keeps failing gets a probe, not a flood), the
send budget (a platform's "20 per minute"; when more is due than the budget allows, the
due deliveries are coalesced into digests instead of waiting in line or failing), and the
retry policy (full-jitter backoff, ``Retry-After`` honoured, bounded by attempts and age,
then a dead letter, and the fallback receiver if one is configured).

A delivery's id is created once and repeated by every retry, so a receiver that dedups
(Standard Webhooks ``webhook-id``) sees each message once even across a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from batchrelay.delivery.policy import BreakerState, CircuitBreaker, RetryPolicy, SendBudget
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, Notification, Notifier, SendError
from batchrelay.notifiers.config import ChannelConfig
from batchrelay.notifiers.templates import TemplateError
from batchrelay.routing.tree import RouteTree
from batchrelay.store.base import Store
from batchrelay.store.contracts import SECOND, Check, Delivery, Outbox

log = structlog.get_logger(__name__)

Clock = Callable[[], float]  # epoch seconds
#: Before each flush: the check that holds back silenced and inhibited events (or None).
Hold = Callable[[int], Awaitable[Check | None]]


class Dispatcher:
    """Sends what the outbox holds; one instance per daemon."""

    def __init__(
        self,
        store: Store,  # get_batch(key); and its outbox unless one is given
        tree: RouteTree | None,
        receivers: Mapping[str, ChannelConfig],
        notifiers: Mapping[str, Notifier],
        metrics: Metrics,
        *,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        tick: float = 0.5,
        lease: float = 60.0,
        max_in_flight: int = 8,
        hold: Hold | None = None,
        outbox: Outbox | None = None,
        active: Callable[[], bool] | None = None,
        public_url: str | None = None,
    ) -> None:
        self.store, self.tree, self.receivers = store, tree, receivers
        self.public_url = public_url  # server.public_url, for links in messages
        self.notifiers, self.metrics, self.clock = notifiers, metrics, clock
        self.tick_seconds, self.lease, self.hold = tick, lease, hold
        self.outbox = outbox if outbox is not None else store.outbox
        self.active = active  # False while another replica holds the timers
        self._budgets_seeded = False
        rng = rng or random.Random()
        self.retry = {n: RetryPolicy(c.retry, rng) for n, c in receivers.items()}
        self.budgets = self._fresh_budgets()
        self.breakers = {n: CircuitBreaker(c.breaker) for n, c in receivers.items()}
        self.in_flight = {n: asyncio.Semaphore(max_in_flight) for n in receivers}
        self._stopping = asyncio.Event()
        # One read per batch per tick, however many of its deliveries go out in that tick.
        self._batch_reads: dict[str, asyncio.Future[Any]] = {}

    async def run(self) -> None:
        """Tick every ``tick`` seconds until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # a bad tick must not end delivery; the next one retries
                log.exception("dispatcher.tick_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.tick_seconds)

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> int:
        """One pass; returns how many deliveries were attempted."""
        if self.active is not None and not self.active():
            self._budgets_seeded = False  # another replica sends: its sends count next time
            return 0
        now = self.clock()
        us = int(now * SECOND)
        if not self._budgets_seeded:
            await self._seed_budgets(now)
        self._batch_reads = {}
        check = await self.hold(us) if self.hold is not None else None
        await self.outbox.flush_due_groups(us, self._max_events, self._muted, check)
        due = await self.outbox.claim_due(us, int(self.lease * SECOND), 512)
        by_receiver: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in due:
            by_receiver[delivery.receiver].append(delivery)
        sends = [self._receiver_pass(name, items, now) for name, items in by_receiver.items()]
        counts = await asyncio.gather(*sends)
        await self._export_depth()
        return sum(counts)

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

    def _max_events(self, receiver: str) -> int:
        config = self.receivers.get(receiver)
        return config.max_events if config else 100

    def _muted(self, receiver: str, route: str) -> bool:
        if self.tree is None:
            return False
        node = self.tree.node(route)
        return node is not None and node.muted(datetime.fromtimestamp(self.clock(), UTC))

    async def _receiver_pass(self, name: str, due: list[Delivery], now: float) -> int:
        notifier = self.notifiers.get(name)
        if notifier is None:  # removed from the config while messages waited for it
            for delivery in due:
                await self._finish(delivery, now, 0.0, "dead", FailureReason.CLIENT_ERROR,
                                   "receiver is no longer configured")  # fmt: skip
            return 0
        ready = await self._through_breaker(name, due, now)
        ready = await self._within_budget(name, ready, now)
        await asyncio.gather(*(self._send(notifier, d) for d in ready))
        return len(ready)

    async def _through_breaker(self, name: str, due: list[Delivery], now: float) -> list[Delivery]:
        """Closed: all go. Half-open: one probe goes. Open: none; they wait for the probe."""
        breaker = self.breakers[name]
        if breaker.state(now) is BreakerState.CLOSED:
            return due
        allowed = due[:1] if due and breaker.allow(now) else []
        held = [d.id for d in due[len(allowed) :]]
        if held:
            until = int((now + max(breaker.retry_in(now), self.tick_seconds)) * SECOND)
            await self.outbox.postpone(held, until, int(now * SECOND))
        return allowed

    async def _within_budget(self, name: str, due: list[Delivery], now: float) -> list[Delivery]:
        budget = self.budgets[name]
        available = budget.available(now)
        if len(due) <= available:
            return due
        us = int(now * SECOND)
        if available >= 1 and len(due) > 1:
            max_events, lease = self._max_events(name), int(self.lease * SECOND)
            digests = await self.outbox.coalesce(due, max_events, us)
            self.metrics.coalesced.labels(receiver=name).inc(len(due))
            log.info("delivery.coalesced", receiver=name, deliveries=len(due), digests=len(digests))
            due = await self.outbox.claim(digests, us, lease)
            if len(due) <= budget.available(now):
                return due
        keep = due[: int(available)]
        held = [d.id for d in due[len(keep) :]]
        until = int((now + max(budget.wait(now), self.tick_seconds)) * SECOND)
        await self.outbox.postpone(held, until, us)
        return keep

    async def _send(self, notifier: Notifier, delivery: Delivery) -> None:
        async with self.in_flight[delivery.receiver]:
            await self._send_one(notifier, delivery)

    async def _send_one(self, notifier: Notifier, delivery: Delivery) -> None:
        name = delivery.receiver
        self.budgets[name].try_take(self.clock())
        notification = await self._notification(delivery)
        started = time.perf_counter()
        try:
            await notifier.send(notification)
        except SendError as exc:
            await self._failed(delivery, exc, time.perf_counter() - started)
            return
        seconds = time.perf_counter() - started
        self.breakers[name].record_success()
        await self._finish(delivery, self.clock(), seconds, "delivered")

    async def _notification(self, delivery: Delivery) -> Notification:
        batch = None
        if delivery.batch_key:
            read = self._batch_reads.get(delivery.batch_key)
            if read is None:
                read = asyncio.ensure_future(self.store.get_batch(delivery.batch_key))
                self._batch_reads[delivery.batch_key] = read
            view = await asyncio.shield(read)
            batch = view.model_dump(mode="json") if view is not None else None
        return Notification(
            id=delivery.id, receiver=delivery.receiver, route=delivery.route,
            group_key=delivery.group_key, events=delivery.events, batch=batch,
            digest=delivery.digest, public_url=self.public_url, created_at=datetime.fromtimestamp(
                delivery.created_at / SECOND, UTC),
        )  # fmt: skip

    async def _failed(self, delivery: Delivery, exc: SendError, seconds: float) -> None:
        if isinstance(exc, TemplateError):  # a fix in the config, not a platform hiccup
            log.error("delivery.template_failed", receiver=delivery.receiver,
                      delivery_id=delivery.id, template=exc.where, line=exc.line,
                      error=exc.detail)  # fmt: skip
        now = self.clock()
        self.breakers[delivery.receiver].record_failure(now)
        policy = self.retry[delivery.receiver]
        attempts = delivery.attempts + 1
        first = delivery.first_attempt_at / SECOND if delivery.first_attempt_at else now
        if exc.retryable and not policy.exhausted(attempts, first, now):
            retry_at = policy.next_attempt(attempts, first, now, exc.retry_after)
            await self._finish(delivery, now, seconds, "retry", exc.reason, exc.detail,
                               next_attempt=retry_at)  # fmt: skip
            return
        await self._finish(delivery, now, seconds, "dead", exc.reason, exc.detail)
        fallback = self.receivers[delivery.receiver].fallback
        if fallback and fallback in self.notifiers:
            copy = await self.outbox.copy_to(delivery, fallback, int(now * SECOND))
            log.warning("delivery.fallback", receiver=delivery.receiver, fallback=fallback,
                        delivery_id=delivery.id, copy_id=copy)  # fmt: skip

    async def _finish(
        self,
        delivery: Delivery,
        now: float,
        seconds: float,
        outcome: str,
        reason: FailureReason | None = None,
        detail: str = "",
        next_attempt: float | None = None,
    ) -> None:
        reason_text = reason.value if reason else None
        next_us = int(next_attempt * SECOND) if next_attempt is not None else None
        await self.outbox.record_attempt(delivery, outcome, int(now * SECOND), seconds,
                                         reason_text, detail or None, next_us)  # fmt: skip
        self.metrics.deliveries.labels(
            receiver=delivery.receiver, outcome=outcome, reason=reason_text or ""
        ).inc()
        self.metrics.delivery_seconds.labels(receiver=delivery.receiver).observe(seconds)
        log.info(
            f"delivery.{outcome}", receiver=delivery.receiver, delivery_id=delivery.id,
            attempt=delivery.attempts + 1, events=len(delivery.events), digest=delivery.digest,
            reason=reason_text, retry_in=round(next_attempt - now, 3) if next_attempt else None,
        )  # fmt: skip

    async def _export_depth(self) -> None:
        depth = await self.outbox.depth()
        for kind, value in depth.items():
            self.metrics.outbox_depth.labels(kind=kind).set(value)
        now = self.clock()
        for name, breaker in self.breakers.items():
            self.metrics.breaker_state.labels(receiver=name).set(
                {"closed": 0, "half_open": 1, "open": 2}[breaker.state(now).value]
            )

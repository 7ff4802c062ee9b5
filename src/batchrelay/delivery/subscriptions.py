"""Delivery to webhook subscriptions: the stages of a ``sub:<id>`` receiver, and endpoint
health.

A subscription's deliveries take the same stages as a configured receiver's (breaker,
send budget, send, record, ``dispatcher.py``), built on first use per subscription from
its record in the store, with the retry and breaker policy of the ``subscriptions``
section. Before them, :class:`Standing` postpones what a disabled subscription has due,
so re-enabling it resumes from what is pending. After them, :class:`NoteHealth` keeps
``failing_since``: a subscription whose deliveries have all failed for
``subscriptions.disable_after`` is disabled by :meth:`SubscriptionDelivery.check_health`,
with a log event and a message to the ``subscriptions.notify`` receiver.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from batchrelay.delivery.breaker import Breaker
from batchrelay.delivery.budget import Budget
from batchrelay.delivery.config import SubscriptionsConfig
from batchrelay.delivery.policy import CircuitBreaker, RetryPolicy, SendBudget
from batchrelay.delivery.record import Record, Recorder
from batchrelay.delivery.send import BatchReads, Send
from batchrelay.delivery.stages import Chain, Fanout, Round, Stage
from batchrelay.events.models import NORMALIZED_KEYS, format_time
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, Notification, Notifier, PermanentSendError
from batchrelay.notifiers.egress import EgressPolicy, networks
from batchrelay.notifiers.subscription import SubscriptionSender, message_id, payload
from batchrelay.routing.subscriptions import subscription_of
from batchrelay.store.contracts import SECOND
from batchrelay.store.subscriptions import Subscription, Subscriptions

log = structlog.get_logger(__name__)

PAUSED_RECHECK = 60.0  # seconds a disabled subscription's due deliveries wait to be looked at
HEALTH_EVERY = 30.0  # seconds between health checks (each is a write on the store)


def egress_policy(config: SubscriptionsConfig) -> EgressPolicy:
    return EgressPolicy(config.allow_http, networks(config.allowed_networks))


class SubscriptionNotifier:
    """One subscription as a :class:`Notifier`: each send reads its record (URL, live
    secrets, headers) from the store, so edits and rotations apply at once."""

    kind = "subscription"

    def __init__(
        self,
        name: str,
        subscriptions: Subscriptions,
        sender: SubscriptionSender,
        clock: Callable[[], float],
    ) -> None:
        self.name, self.subscriptions, self.sender, self.clock = name, subscriptions, sender, clock
        self.id = subscription_of(name) or name

    async def send(self, notification: Notification) -> None:
        sub = await self.subscriptions.get(self.id)
        if sub is None:
            raise PermanentSendError(FailureReason.CLIENT_ERROR, "the subscription was deleted")
        secrets = sub.signing_secrets(int(self.clock() * SECOND))
        for view in notification.events:  # one: subscriptions are sent one event per message
            msg_id = message_id(sub.id, str(view.get("event_id")))
            body = payload(sub.id, view, notification.batch)
            await self.sender.send(sub.url, msg_id, body, secrets, sub.headers)

    async def close(self) -> None:
        return None


@dataclass
class _Parts:
    chain: Stage
    budget: SendBudget
    rate_limit: tuple[int, float] | None


class Standing:
    """Stage zero for a subscription: disabled, its due deliveries wait (postponed);
    its send budget follows its current ``rate_limit``."""

    def __init__(self, owner: SubscriptionDelivery, parts: _Parts, subscription_id: str) -> None:
        self.owner, self.parts, self.id = owner, parts, subscription_id

    async def __call__(self, work: Round) -> Round:
        sub = await self.owner.subscriptions.get(self.id)
        if sub is None:  # deleted: this round's sends end dead, and its stages go
            self.owner.forget(self.id)
        elif not sub.enabled:
            until = int((work.now + PAUSED_RECHECK) * SECOND)
            await self.owner.outbox.postpone(
                [d.id for d in work.deliveries], until, int(work.now * SECOND)
            )
            return work.passing([])
        elif sub.rate_limit != self.parts.rate_limit:
            self.parts.rate_limit = sub.rate_limit
            self.parts.budget = SendBudget([sub.rate_limit] if sub.rate_limit else [])
        return work


class NoteHealth:
    """Last stage: each send's outcome kept as the subscription's ``failing_since``."""

    def __init__(self, subscriptions: Subscriptions, subscription_id: str) -> None:
        self.subscriptions, self.id = subscriptions, subscription_id

    async def __call__(self, work: Round) -> Round:
        for delivery in work.deliveries:
            sent = work.sent.get(delivery.id)
            if sent is not None:
                await self.subscriptions.note_attempt(
                    self.id, sent.error is None, int(work.now * SECOND)
                )
        return work


class SubscriptionDelivery:
    """What the dispatcher needs for subscriptions: a chain per ``sub:<id>`` receiver, and
    the health check it runs each tick."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        config: SubscriptionsConfig,
        recorder: Recorder,
        reads: BatchReads,
        metrics: Metrics,
        *,
        tick: float,
        lease: float,
        max_in_flight: int,
        rng: random.Random | None = None,
        notify: Notifier | None = None,
    ) -> None:
        self.subscriptions, self.config, self.recorder = subscriptions, config, recorder
        self.outbox, self.reads, self.metrics = recorder.outbox, reads, metrics
        self.tick, self.lease, self.max_in_flight = tick, lease, max_in_flight
        self.rng, self.notify = rng or random.Random(), notify
        self.sender = SubscriptionSender(egress_policy(config), config.timeout)
        self._parts: dict[str, _Parts] = {}
        self._next_check = 0.0

    def chain(self, receiver: str) -> Stage | None:
        """The stages of ``receiver`` if it is a subscription's."""
        subscription_id = subscription_of(receiver)
        if subscription_id is None:
            return None
        parts = self._parts.get(subscription_id)
        if parts is None:
            parts = self._parts[subscription_id] = self._build(receiver, subscription_id)
        return parts.chain

    def forget(self, subscription_id: str) -> None:
        self._parts.pop(subscription_id, None)

    def _build(self, receiver: str, subscription_id: str) -> _Parts:
        breaker = CircuitBreaker(self.config.breaker)
        notifier = SubscriptionNotifier(
            receiver, self.subscriptions, self.sender, self.recorder.clock
        )
        parts = _Parts(Chain(), SendBudget([]), None)
        record = Chain(
            Record(self.recorder, breaker, RetryPolicy(self.config.retry, self.rng), None),
            NoteHealth(self.subscriptions, subscription_id),
        )
        parts.chain = Chain(
            Standing(self, parts, subscription_id),
            Breaker(breaker, self.outbox, self.tick),
            Budget(lambda: parts.budget, self.outbox, self.metrics, 1, self.lease, self.tick),
            Fanout(Send(notifier, self.reads, None), self.max_in_flight, then=record),
        )
        return parts

    async def check_health(self, now: float) -> list[Subscription]:
        """Disable every subscription failing for ``disable_after``; returns them. At most
        every :data:`HEALTH_EVERY` seconds: the unit of ``disable_after`` is days."""
        if now < self._next_check:
            return []
        self._next_check = now + HEALTH_EVERY
        since = int((now - self.config.disable_after) * SECOND)
        reason = f"every delivery failed for {self.config.disable_after:g} seconds"
        disabled = await self.subscriptions.disable_failing(since, reason, int(now * SECOND))
        for sub in disabled:
            log.warning(
                "subscription.disabled",
                subscription=sub.id,
                reason=reason,
                failing_since=sub.failing_since,
            )
            if self.notify is not None:
                await _tell(self.notify, sub, reason, now)
        return disabled

    async def close(self) -> None:
        await self.sender.close()


async def _tell(notify: Notifier, sub: Subscription, reason: str, now: float) -> None:
    at = datetime.fromtimestamp(now, UTC)
    notification = Notification(
        id=f"subscription-disabled-{sub.id}-{int(now)}",
        receiver=notify.name,
        route="subscription",
        group_key=sub.id,
        events=[disabled_view(sub, reason, at)],
        created_at=at,
    )
    try:
        await notify.send(notification)
    except Exception:  # best effort: the log event is the record
        log.exception("subscription.disabled_notice_failed", subscription=sub.id)


def disabled_view(sub: Subscription, reason: str, at: datetime) -> dict[str, Any]:
    """The message about a disabled subscription, shaped like a normalized view."""
    view: dict[str, Any] = dict.fromkeys(NORMALIZED_KEYS)
    return view | {
        "event_id": f"subscription:{sub.id}:disabled:{format_time(at)}",
        "source": "batchrelay",
        "type": "batchrelay:Subscription:Disabled",
        "kind": "unknown",
        "time": format_time(at),
        "status": "failed",
        "code": "SubscriptionDisabled",
        "message": f"webhook subscription {sub.id} ({sub.description or 'no description'})"
        f" was disabled: {reason}",
        "tags": {},
        "data": {"subscription": sub.id},
    }

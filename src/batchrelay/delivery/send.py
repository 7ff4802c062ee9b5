"""Stage four of delivery: render and send. Each delivery becomes a
:class:`~batchrelay.notifiers.base.Notification` (its events, and its batch as the store
has it now) that the receiver's notifier renders and sends; what the send gave is noted
for the record stage. A delivery's id is created once and repeated by every retry, so a
receiver that dedups (Standard Webhooks ``webhook-id``) sees each message once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from batchrelay.delivery.stages import Round, Sent
from batchrelay.notifiers.base import Notification, Notifier, SendError
from batchrelay.store.base import Store
from batchrelay.store.contracts import SECOND, Delivery


class BatchReads:
    """The batches of a tick's deliveries, read once per tick: all of a page in one read
    (:meth:`prefetch`), and each batch's JSON made once and shared by its deliveries'
    notifications (read-only)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._reads: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    def clear(self) -> None:
        self._reads = {}

    def prefetch(self, deliveries: Iterable[Delivery]) -> None:
        """Start one read of every batch of ``deliveries`` not read yet this tick."""
        keys = sorted({d.batch_key for d in deliveries if d.batch_key} - self._reads.keys())
        if keys:
            views = asyncio.ensure_future(self._read_many(keys))
            for key in keys:
                self._reads[key] = asyncio.ensure_future(_one_of(views, key))

    async def batch(self, batch_key: str) -> dict[str, Any] | None:
        if batch_key not in self._reads:
            views = asyncio.ensure_future(self._read_many([batch_key]))
            self._reads[batch_key] = asyncio.ensure_future(_one_of(views, batch_key))
        return await asyncio.shield(self._reads[batch_key])

    async def _read_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        views = await self.store.alerts.batches(keys)
        return {view.batch_key: view.model_dump(mode="json") for view in views}


async def _one_of(
    views: asyncio.Future[dict[str, dict[str, Any]]], key: str
) -> dict[str, Any] | None:
    return (await asyncio.shield(views)).get(key)


class Send:
    """``public_url`` is ``server.public_url``, for links in messages."""

    def __init__(self, notifier: Notifier, reads: BatchReads, public_url: str | None) -> None:
        self.notifier, self.reads, self.public_url = notifier, reads, public_url

    async def __call__(self, work: Round) -> Round:
        sent = dict(work.sent)
        for delivery in work.deliveries:
            notification = await self.notification(delivery)
            started = time.perf_counter()
            try:
                await self.notifier.send(notification)
            except SendError as exc:
                sent[delivery.id] = Sent(time.perf_counter() - started, exc)
            else:
                sent[delivery.id] = Sent(time.perf_counter() - started)
        return Round(work.receiver, work.now, work.deliveries, sent)

    async def notification(self, delivery: Delivery) -> Notification:
        batch = await self.reads.batch(delivery.batch_key) if delivery.batch_key else None
        return Notification(
            id=delivery.id, receiver=delivery.receiver, route=delivery.route,
            group_key=delivery.group_key, events=delivery.events, batch=batch,
            digest=delivery.digest, public_url=self.public_url, created_at=datetime.fromtimestamp(
                delivery.created_at / SECOND, UTC),
        )  # fmt: skip

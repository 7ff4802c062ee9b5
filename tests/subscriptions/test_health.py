"""Endpoint health on a fake clock: a subscription whose deliveries all fail for
``subscriptions.disable_after`` is disabled (and the configured receiver told); enabling
it again resumes what was pending. Real SQLite outbox, real subscriber over HTTP."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchrelay.delivery.config import SubscriptionsConfig
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.metrics import Metrics
from batchrelay.routing.obligations import Router
from batchrelay.store.base import Inbound
from batchrelay.store.contracts import SECOND, CommitHooks
from batchrelay.store.sqlite.store import SQLiteStore, commit_hook
from batchrelay.store.subscriptions import Secret, Subscription
from tests.delivery.test_dispatcher import hook_config, routing, task
from tests.fakes import FakeClock, RecordingNotifier, running_sink

from .support import LOCAL, Subscriber

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    async with running_sink(Subscriber(secrets=[SECRET], status=500)) as sub:
        yield sub


async def test_a_dead_endpoint_is_disabled_then_resumes(
    tmp_path: Path, subscriber: Subscriber
) -> None:
    clock = FakeClock()
    tree = routing(receiver="ops", routes=[])
    store = SQLiteStore(
        tmp_path / "s.db",
        synchronous="NORMAL",
        on_commit=commit_hook(CommitHooks(route=Router(tree, clock), subscriptions=True)),
    )
    await store.start()
    ops = RecordingNotifier(name="ops", clock=clock)
    config = SubscriptionsConfig.model_validate(
        LOCAL
        | {
            "disable_after": "2h",
            "notify": "ops",
            "retry": {
                "max_attempts": 1000,
                "max_age": 864000,
                "initial_delay": 1,
                "max_delay": 300,
            },
        }
    )
    dispatcher = Dispatcher(
        store,
        tree,
        {"ops": hook_config()},
        {"ops": ops},
        Metrics(),
        clock=clock,
        rng=random.Random(1),
        subscriptions=config,
    )
    now = int(clock() * SECOND)
    sub = Subscription(
        id="sub_1", url=subscriber.url, secrets=(Secret(SECRET),), created_at=now, updated_at=now
    )
    await store.subscriptions.create(sub)
    try:
        at = datetime.fromtimestamp(clock(), UTC)
        await store.commit_many([Inbound(task(1), b"{}", at)])
        for _ in range(100):  # 100 minutes: failing, not yet for two hours
            await dispatcher.tick()
            clock.advance(60)
        assert (await store.subscriptions.get("sub_1")).enabled  # type: ignore[union-attr]
        for _ in range(30):
            await dispatcher.tick()
            clock.advance(60)
        disabled = await store.subscriptions.get("sub_1")
        assert disabled is not None and not disabled.enabled
        assert "failed" in (disabled.disabled_reason or "")
        told = [n for _, n in ops.sent if n.route == "subscription"]
        assert len(told) == 1 and "sub_1" in told[0].events[0]["message"]
        tried = subscriber.unverified + len(subscriber.received)
        subscriber.status = 200
        for _ in range(10):  # disabled: nothing is tried
            await dispatcher.tick()
            clock.advance(60)
        assert subscriber.received == []
        assert subscriber.unverified + len(subscriber.received) == tried
        now = int(clock() * SECOND)
        await store.subscriptions.save(replace(disabled, enabled=True, failing_since=None))
        assert await store.subscriptions.resume("sub_1", now) == 1
        await dispatcher.tick()
        [delivered] = subscriber.received
        assert delivered.event_id == task(1).event_id
        again = await store.subscriptions.get("sub_1")
        assert again is not None and again.enabled and again.failing_since is None
    finally:
        await dispatcher.close()
        await store.close()

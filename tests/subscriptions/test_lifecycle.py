"""Rotation, replay, the delivery log and disabling over the API, against the whole
daemon in-process; every delivery verified by the reference Standard Webhooks library."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes import running_sink

from .support import AUTH, LOCAL, TOKEN, Subscriber, failed
from .test_api import BASE, create, push


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    async with running_sink(Subscriber()) as sub:
        yield sub


@pytest.fixture
async def relay(make_settings: Any, start_daemon: Any) -> Any:
    retry = {"initial_delay": 0.05, "max_delay": 0.2, "max_attempts": 1000}
    settings = make_settings(
        api={"token": TOKEN}, delivery={"tick": 0.05}, subscriptions=LOCAL | {"retry": retry}
    )
    return await start_daemon(settings)


async def subscribed(relay: Any, subscriber: Subscriber, **body: Any) -> str:
    created = await create(relay, {"url": subscriber.url, **body})
    subscriber.secrets.append(created["secret"])
    return str(created["id"])


async def test_rotation_signs_with_both_then_only_the_new(
    relay: Any, subscriber: Subscriber
) -> None:
    sid = await subscribed(relay, subscriber)
    old = subscriber.secrets[0]
    resp = await relay.post(f"{BASE}/{sid}/rotate", json={"overlap": "1s"}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    new = (await resp.json())["secret"]
    assert new != old and new.startswith("whsec_")
    subscriber.secrets.append(new)
    await push(relay, failed(1))
    await subscriber.wait_for(1)
    during = subscriber.received[0]
    assert during.verified_by == {old, new} and during.signatures == 2
    await asyncio.sleep(1.1)  # the overlap ends
    await push(relay, failed(2))
    await subscriber.wait_for(2)
    after = subscriber.received[1]
    assert after.verified_by == {new} and after.signatures == 1


async def test_replay_of_a_batch_repeats_its_ids(relay: Any, subscriber: Subscriber) -> None:
    sid = await subscribed(relay, subscriber)
    await push(relay, failed(1, "b-1"), failed(2, "b-1"), failed(3, "b-2"))
    await subscriber.wait_for(3)
    first = {r.event_id: r.msg_id for r in subscriber.received}
    resp = await relay.post(f"{BASE}/{sid}/replay", json={"batch_key": "b-1"}, headers=AUTH)
    assert resp.status == 202 and (await resp.json()) == {"replayed": 2}
    await subscriber.wait_for(5)
    again = subscriber.received[3:]
    assert sorted(r.event_id for r in again) == ["e1", "e2"]  # type: ignore[type-var]
    assert all(r.msg_id == first[r.event_id] for r in again)
    resp = await relay.post(
        f"{BASE}/{sid}/replay", json={"since": "2000-01-01T00:00:00Z"}, headers=AUTH
    )
    assert (await resp.json()) == {"replayed": 3}
    bad = await relay.post(f"{BASE}/{sid}/replay", json={"since": "yesterday"}, headers=AUTH)
    assert bad.status == 400


async def test_the_delivery_log_shows_attempts(relay: Any, subscriber: Subscriber) -> None:
    sid = await subscribed(relay, subscriber)
    subscriber.status = 503
    await push(relay, failed(1))
    log: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not log or len(log[0]["attempt_log"]) < 2:
            await asyncio.sleep(0.05)
            log = (await (await relay.get(f"{BASE}/{sid}/deliveries")).json())["deliveries"]
    [delivery] = log
    attempt = delivery["attempt_log"][0]
    assert attempt["status"] == 503 and attempt["outcome"] == "retry"
    assert "on purpose" in attempt["response"] and attempt["latency_ms"] >= 0
    assert delivery["event_id"] == "e1" and delivery["message_id"].startswith("msg_")
    subscriber.status = 200
    await subscriber.wait_for(1)
    assert subscriber.received[0].msg_id == delivery["message_id"]


async def test_disabled_waits_and_enabled_resumes(relay: Any, subscriber: Subscriber) -> None:
    sid = await subscribed(relay, subscriber)
    subscriber.status = 500
    await push(relay, failed(1))
    async with asyncio.timeout(10):
        while not (await (await relay.get(f"{BASE}/{sid}")).json())["failing_since"]:
            await asyncio.sleep(0.05)
    resp = await relay.patch(f"{BASE}/{sid}", json={"enabled": False}, headers=AUTH)
    assert (await resp.json())["enabled"] is False
    await asyncio.sleep(0.3)  # a send that started before the change ends (and fails)
    subscriber.status = 200
    await push(relay, failed(2))  # a disabled subscription is owed nothing new
    await asyncio.sleep(0.5)
    assert subscriber.received == []
    resp = await relay.patch(f"{BASE}/{sid}", json={"enabled": True}, headers=AUTH)
    assert (await resp.json())["enabled"] is True
    await subscriber.wait_for(1)
    await asyncio.sleep(0.3)
    assert subscriber.event_ids() == ["e1"]


async def test_a_deleted_subscriptions_pending_deliveries_end_dead(
    relay: Any, subscriber: Subscriber
) -> None:
    sid = await subscribed(relay, subscriber)
    subscriber.status = 500
    await push(relay, failed(1))
    async with asyncio.timeout(10):
        while not (await (await relay.get(f"{BASE}/{sid}")).json())["failing_since"]:
            await asyncio.sleep(0.05)
    assert (await relay.delete(f"{BASE}/{sid}", headers=AUTH)).status == 204
    dead: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not dead:
            await asyncio.sleep(0.05)
            dead = (await (await relay.get("/api/v1/deadletters")).json())["deliveries"]
    assert dead[0]["receiver"] == f"sub:{sid}"
    assert "deleted" in dead[0]["last_detail"]


async def test_a_rate_limit_holds_the_rest_back(relay: Any, subscriber: Subscriber) -> None:
    await subscribed(relay, subscriber, rate_limit={"count": 2, "seconds": 3600})
    await push(relay, *(failed(n) for n in range(1, 6)))
    await subscriber.wait_for(2)
    await asyncio.sleep(0.5)  # many ticks: the other three wait for the budget
    assert len(subscriber.received) == 2

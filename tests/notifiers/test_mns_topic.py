"""MNS topic forwarding against the local emulator, read back through a subscribed queue
with the official SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from mns.account import Account
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMeta

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    RunningEmulator,
    running_emulator,
)
from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.mns_topic import MnsTopicConfig

from .support import assert_no_secret, make_notification, send_error

run = asyncio.to_thread


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(EmulatorConfig(port=0, seed=7, retry_scale=0.001)) as running:
        yield running


async def subscribed_queue(emu: RunningEmulator, topic: str = "relay-out") -> Account:
    """Create ``topic`` and a queue ``inbox`` subscribed to it (SIMPLIFIED: bodies as sent)."""
    account = Account(emu.url, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    emu.create_queue("inbox")
    handle = account.get_topic(topic)
    await run(handle.create, TopicMeta())
    meta = SubscriptionMeta(emu.queue_endpoint("inbox"), "BACKOFF_RETRY", "SIMPLIFIED")
    await run(handle.get_subscription("to-inbox").subscribe, meta)
    return account


async def receive(account: Account) -> str:
    queue = account.get_queue("inbox")
    queue.set_encoding(False)
    return str((await run(queue.receive_message, 1)).message_body)


def config(emu: RunningEmulator, **extra: object) -> MnsTopicConfig:
    fields = {
        "type": "mns_topic",
        "endpoint": emu.url,
        "topic": "relay-out",
        "access_key_id": DEFAULT_ACCESS_KEY_ID,
        "access_key_secret": DEFAULT_ACCESS_KEY_SECRET,
        "timeout": 3,
    } | extra
    parsed = RECEIVER_ADAPTER.validate_python(fields)
    assert isinstance(parsed, MnsTopicConfig)
    return parsed


async def test_publishes_the_default_body(
    emu: RunningEmulator, session: aiohttp.ClientSession, notification: Notification
) -> None:
    account = await subscribed_queue(emu)
    notifier = build_notifier("forward", config(emu, message_tag="batchrelay"), session)
    try:
        await notifier.send(notification)
        body = json.loads(await receive(account))
    finally:
        await notifier.close()
        account.mns_client.close_connection()
    assert body["notification"]["id"] == notification.id
    assert body["events"] == notification.events
    assert body["batch"]["batch_key"] == "batch-7f3a"


async def test_templated_body(emu: RunningEmulator, session: aiohttp.ClientSession) -> None:
    account = await subscribed_queue(emu)
    template = '{"batch": {{ s.batch_key | tojson }}, "failed": {{ s.failures | length }}}'
    notifier = build_notifier("forward", config(emu, template=template), session)
    try:
        await notifier.send(make_notification(failures=5))
        assert json.loads(await receive(account)) == {"batch": "batch-7f3a", "failed": 5}
    finally:
        await notifier.close()
        account.mns_client.close_connection()


async def test_large_bodies_drop_events_to_fit(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    account = await subscribed_queue(emu)
    notifier = build_notifier("forward", config(emu), session)
    try:
        await notifier.send(make_notification(failures=400))
        body = json.loads(await receive(account))
    finally:
        await notifier.close()
        account.mns_client.close_connection()
    assert 0 < len(body["events"]) < 400
    assert body["notification"]["omitted"] == 400 - len(body["events"])


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"access_key_secret": "wrong-secret-value"}, FailureReason.AUTH_ERROR),
        ({"access_key_id": "NoSuchKeyId"}, FailureReason.AUTH_ERROR),
        ({"topic": "missing-topic"}, FailureReason.CLIENT_ERROR),
    ],
)
async def test_failures(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    notification: Notification,
    overrides: dict[str, str],
    reason: FailureReason,
) -> None:
    account = await subscribed_queue(emu)
    account.mns_client.close_connection()
    notifier = build_notifier("forward", config(emu, **overrides), session)
    try:
        error = await send_error(notifier.send(notification))
    finally:
        await notifier.close()
    assert (error.reason, error.retryable) == (reason, False)
    assert_no_secret(["wrong-secret-value", DEFAULT_ACCESS_KEY_SECRET], error, repr(error))


async def test_unreachable_endpoint(
    session: aiohttp.ClientSession, notification: Notification, refused_port: int
) -> None:
    cfg = MnsTopicConfig(
        type="mns_topic",
        endpoint=f"http://127.0.0.1:{refused_port}",
        topic="t",
        access_key_id="id",
        access_key_secret="secret-value-1",  # type: ignore[arg-type]
        timeout=2,
    )
    notifier = build_notifier("forward", cfg, session)
    try:
        error = await send_error(notifier.send(notification))
    finally:
        await notifier.close()
    assert (error.reason, error.retryable) == (FailureReason.CONNECTION, True)

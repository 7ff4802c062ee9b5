"""MNS targets through the official SDK, against batchrelay's emulator, and their error mapping."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

import pytest
from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSServerException
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMeta

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    FaultConfig,
    RunningEmulator,
    Signer,
    running_emulator,
)
from batchrelay.errors import ConfigError
from batchrelay.simulate import Counts, RetryPolicy, TrafficSpec, deliver, encode, generate
from batchrelay.simulate.mns import AccountPool, MnsQueueTarget, MnsTopicTarget, _guarded
from batchrelay.simulate.targets import Problem

from .conftest import START, FakeClock

pytestmark = pytest.mark.timeout(10)

KEY, SECRET = DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
QUEUE = "imm-notify"
BODIES = [
    encode(e, "mns")
    for e in generate(TrafficSpec(START, kind="mixed", batches=3, tasks=5, seed=2)).events
]

Start = Callable[..., AbstractAsyncContextManager[RunningEmulator]]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.legacy()  # as real MNS signs: 512 bits, certificate expired in 2016


@pytest.fixture
def start(signer: Signer) -> Start:
    def run(**overrides: Any) -> AbstractAsyncContextManager[RunningEmulator]:
        settings: dict[str, Any] = {"port": 0, "seed": 7, "queues": (QUEUE,), "retry_scale": 0.001}
        return running_emulator(EmulatorConfig(**(settings | overrides)), signer=signer)

    return run


@pytest.fixture
async def emu(start: Start) -> AsyncIterator[RunningEmulator]:
    async with start() as running:
        yield running


def drain(url: str, queue: str, expected: int) -> list[bytes]:
    """Receive (and delete) up to ``expected`` bodies through the SDK, as IMM's reader would.

    Injected InternalErrors are retried; a failed delete only hides the message for its
    visibility timeout, longer than this test runs, so nothing is received twice.
    """
    account = Account(url, KEY, SECRET)
    receiver = account.get_queue(queue)
    receiver.set_encoding(False)
    got: list[bytes] = []
    try:
        while len(got) < expected:
            messages = _sdk(lambda: receiver.batch_receive_message(16, wait_seconds=1))
            if messages is None:
                break
            got += [m.message_body.encode("utf-8") for m in messages]
            handles = [m.receipt_handle for m in messages]
            _sdk(partial(receiver.batch_delete_message, handles))
    finally:
        account.mns_client.close_connection()
    return got


def _sdk(call: Callable[[], Any]) -> Any:
    """``call()``, again after an injected InternalError; None when the queue is empty."""
    for _ in range(20):
        try:
            return call()
        except MNSServerException as exc:
            if exc.type == "MessageNotExist":
                return None
            if exc.type != "InternalError":
                raise
    raise AssertionError("the emulator kept failing")


async def send_all(target: Any, clock: FakeClock, concurrency: int = 3) -> Counts:
    try:
        return await deliver(BODIES, target, concurrency=concurrency, clock=clock)
    finally:
        await target.aclose()


def queue_target(
    url: str, clock: FakeClock, key: str = KEY, secret: str = SECRET
) -> MnsQueueTarget:
    pool = AccountPool(url, key, secret, size=3)
    return MnsQueueTarget(pool, QUEUE, RetryPolicy(attempts=8), clock.sleep)


async def test_queue_batches_arrive_as_plain_json(emu: RunningEmulator, clock: FakeClock) -> None:
    counts = await send_all(queue_target(emu.url, clock), clock)
    assert counts == Counts(sent=len(BODIES))
    received = await asyncio.to_thread(drain, emu.url, QUEUE, len(BODIES))
    assert Counter(received) == Counter(BODIES)


async def test_topic_publishes_reach_a_subscribed_queue(
    emu: RunningEmulator, clock: FakeClock
) -> None:
    def subscribe() -> None:
        account = Account(emu.url, KEY, SECRET)
        try:
            account.get_topic("imm-topic").create(TopicMeta())
            meta = SubscriptionMeta(emu.queue_endpoint(QUEUE), notify_content_format="SIMPLIFIED")
            account.get_subscription("imm-topic", "to-queue").subscribe(meta)
        finally:
            account.mns_client.close_connection()

    await asyncio.to_thread(subscribe)
    pool = AccountPool(emu.url, KEY, SECRET, size=2)
    target = MnsTopicTarget(pool, "imm-topic", RetryPolicy(), clock.sleep)
    assert await send_all(target, clock) == Counts(sent=len(BODIES))
    received = await asyncio.to_thread(drain, emu.url, QUEUE, len(BODIES))
    assert Counter(received) == Counter(BODIES)


async def test_injected_server_errors_are_retried_until_sent(
    start: Start, clock: FakeClock
) -> None:
    async with start(faults=FaultConfig(error_ratio=0.3)) as emu:
        counts = await send_all(queue_target(emu.url, clock), clock)
        assert counts.sent == len(BODIES) and counts.failed == 0 and counts.retried > 0
        received = await asyncio.to_thread(drain, emu.url, QUEUE, len(BODIES))
    assert Counter(received) == Counter(BODIES)


async def test_bad_credentials_fail_without_retrying(
    emu: RunningEmulator, clock: FakeClock
) -> None:
    counts = await send_all(queue_target(emu.url, clock, secret="wrong"), clock, concurrency=1)
    assert (counts.sent, counts.retried, counts.failed) == (0, 0, len(BODIES))
    assert list(counts.errors) == ["SignatureDoesNotMatch"]


def test_partial_batch_failure_names_only_the_failed_messages() -> None:
    sub_errors = [
        {"MessageId": "1", "MessageBodyMD5": "x"},
        {"ErrorCode": "InternalError", "ErrorMessage": "busy"},
        {"ErrorCode": "MessageTooLarge", "ErrorMessage": "too big"},
    ]

    def call() -> None:
        raise MNSServerException("InternalError", "busy", "req", "host", sub_errors)

    assert _guarded(call, 3) == [
        (1, Problem("InternalError", retryable=True)),
        (2, Problem("MessageTooLarge", retryable=False)),
    ]


def test_network_errors_are_retryable_for_every_message() -> None:
    def call() -> None:
        raise MNSClientNetworkException("NetWorkException", "refused")

    assert _guarded(call, 2) == [(i, Problem("connection", retryable=True)) for i in range(2)]


def test_a_bad_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--endpoint"):
        AccountPool("ftp://mns.example.com", KEY, SECRET, size=1)

"""Fault knobs, seen through the SDK: 5xx, duplicates, lost deletes, latency, determinism."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    FaultConfig,
    QueueAttributes,
    RunningEmulator,
)

EmulatorFactory = Callable[..., AbstractAsyncContextManager[RunningEmulator]]
run = asyncio.to_thread
T = TypeVar("T")


async def with_queue(
    emulator: EmulatorFactory,
    faults: FaultConfig,
    call: Callable[[RunningEmulator, Account], T],
    attributes: QueueAttributes | None = None,
) -> T:
    """Blocking ``call(emu, account)`` against an emulator with ``faults`` and queue ``jobs``."""
    async with emulator(faults=faults) as emu:
        emu.create_queue("jobs", attributes)
        account = Account(emu.url, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
        try:
            return await run(call, emu, account)
        finally:
            account.mns_client.close_connection()


async def test_error_ratio_one_answers_internal_error(emulator: EmulatorFactory) -> None:
    def call(emu: RunningEmulator, account: Account) -> None:
        account.get_queue("jobs").send_message(Message("x"))

    with pytest.raises(MNSServerException) as caught:
        await with_queue(emulator, FaultConfig(error_ratio=1.0), call)
    assert caught.value.type == "InternalError"


async def test_error_ratio_is_deterministic_for_a_seed(emulator: EmulatorFactory) -> None:
    def pattern(emu: RunningEmulator, account: Account) -> list[str]:
        outcomes = []
        for _ in range(20):
            try:
                account.get_queue("jobs").get_attributes()
                outcomes.append("ok")
            except MNSServerException as exc:
                outcomes.append(exc.type)
        return outcomes

    first = await with_queue(emulator, FaultConfig(error_ratio=0.5), pattern)
    second = await with_queue(emulator, FaultConfig(error_ratio=0.5), pattern)
    assert first == second
    assert set(first) == {"ok", "InternalError"}


async def test_duplicate_ratio_one_delivers_twice(emulator: EmulatorFactory) -> None:
    def call(emu: RunningEmulator, account: Account) -> list[tuple[str, int]]:
        queue = account.get_queue("jobs")
        queue.send_message(Message("once"))
        got = [queue.receive_message(0), queue.receive_message(0)]
        for message in got:
            queue.delete_message(message.receipt_handle)
        return [(m.message_id, m.dequeue_count) for m in got]

    (first_id, first_count), (second_id, second_count) = await with_queue(
        emulator, FaultConfig(duplicate_ratio=1.0), call
    )
    assert first_id == second_id
    assert (first_count, second_count) == (1, 2)


async def test_lost_delete_keeps_the_message(emulator: EmulatorFactory) -> None:
    def call(emu: RunningEmulator, account: Account) -> tuple[str, str, int]:
        queue = account.get_queue("jobs")
        queue.send_message(Message("sticky"))
        first = queue.receive_message(0)
        queue.delete_message(first.receipt_handle)  # acknowledged, yet not done
        again = queue.receive_message(2)
        return first.message_id, again.message_id, again.dequeue_count

    faults = FaultConfig(lost_delete_ratio=1.0)
    attributes = QueueAttributes(visibility_timeout=1)
    first_id, again_id, count = await with_queue(emulator, faults, call, attributes)
    assert (again_id, count) == (first_id, 2)


async def test_latency_is_added_to_every_answer(emulator: EmulatorFactory) -> None:
    def call(emu: RunningEmulator, account: Account) -> float:
        started = time.monotonic()
        account.get_queue("jobs").get_attributes()
        return time.monotonic() - started

    elapsed = await with_queue(emulator, FaultConfig(latency=0.3), call)
    assert 0.3 <= elapsed < 1.5

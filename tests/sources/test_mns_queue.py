"""The MNS queue source against the emulator, driven by the official SDK end to end."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchrelay.emulator import EmulatorConfig, FaultConfig, running_emulator
from batchrelay.emulator.attributes import QueueAttributes
from batchrelay.errors import StoreError
from batchrelay.metrics import Metrics
from batchrelay.simulate import SimulateOptions, encode, generate
from batchrelay.sources.config import MnsQueueConfig
from batchrelay.sources.mns_queue import Backoff, MnsQueueSource
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.sqlite.store import SQLiteStore

from ..ledgers import assert_recorded

pytestmark = pytest.mark.timeout(60)

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
QUEUE = "imm-notify"


def traffic(batches: int = 3, tasks: int = 10, seed: int = 7) -> Any:
    options = SimulateOptions(kind="mixed", batches=batches, tasks=tasks, seed=seed,
                              failure_ratio=0.3, start_time=START)  # fmt: skip
    return generate(options.spec(START))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "relay.db", synchronous="NORMAL")
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def source_config(url: str, **overrides: Any) -> MnsQueueConfig:
    values: dict[str, Any] = {
        "endpoint": url, "queue": QUEUE, "access_key_id": "batchrelay",
        "access_key_secret": "batchrelay-secret", "pollers": 2, "wait_seconds": 1,
        "backoff_initial": 0.01, "backoff_max": 0.05,
    }  # fmt: skip
    return MnsQueueConfig.model_validate(values | overrides)


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def queue_empty(emu: Any) -> Callable[[], bool]:
    def check() -> bool:
        counts = emu.counts(QUEUE)
        return counts.active + counts.inactive + counts.delayed == 0

    return check


def fill(emu: Any, events: Any, visibility: int | None = None) -> None:
    if visibility is not None:
        emu.create_queue(QUEUE, QueueAttributes(visibility_timeout=visibility))
    for event in events:
        emu.send(QUEUE, encode(event, "mns").decode())


async def consume(emu: Any, store: SQLiteStore, metrics: Metrics, **overrides: Any) -> None:
    source = MnsQueueSource(source_config(emu.url, **overrides), Pipeline(store, metrics),
                            metrics, rng=random.Random(1))  # fmt: skip
    await source.start()
    try:
        await wait_until(queue_empty(emu))
    finally:
        await source.stop(grace=5)


async def test_consumes_every_message_and_the_ledger_is_exact(store: SQLiteStore) -> None:
    sent = traffic()
    async with running_emulator(EmulatorConfig(port=0, queues=(QUEUE,), seed=1)) as emu:
        fill(emu, sent.events)
        metrics = Metrics()
        await consume(emu, store, metrics)
    for expected in sent.expected:
        assert_recorded(await store.get_batch(expected.batch_key), expected)
    deleted = metrics.mns_deletes.labels(queue=QUEUE, outcome="deleted")._value.get()
    assert deleted == len(sent.events)
    assert metrics.mns_batch_size.labels(queue=QUEUE)._sum.get() == len(sent.events)


async def test_duplicates_and_5xx_leave_the_ledger_exact(store: SQLiteStore) -> None:
    sent = traffic(seed=11)
    faults = FaultConfig(duplicate_ratio=0.5, error_ratio=0.2, lost_delete_ratio=0.2)
    config = EmulatorConfig(port=0, seed=3, faults=faults)
    async with running_emulator(config) as emu:
        fill(emu, sent.events, visibility=1)
        metrics = Metrics()
        await consume(emu, store, metrics)
    for expected in sent.expected:
        assert_recorded(await store.get_batch(expected.batch_key), expected)
    duplicates = sum(s.value for m in metrics.duplicates.collect() for s in m.samples
                     if s.name.endswith("_total"))  # fmt: skip
    assert duplicates > 0  # redeliveries show only here, never in the ledger
    failures = metrics.mns_failures.labels(queue=QUEUE, reason="server_error")._value.get()
    assert failures > 0


async def test_undecodable_message_is_quarantined_and_deleted(store: SQLiteStore) -> None:
    async with running_emulator(EmulatorConfig(port=0, queues=(QUEUE,))) as emu:
        emu.send(QUEUE, '{"id": "truncated", "content": "{\\"Task')
        await consume(emu, store, Metrics())
    page = await store.list_quarantine(10, "")
    assert [q.reason for q in page.items] == ["bad_json"]
    assert page.items[0].headers["x-mns-queue"] == QUEUE


class FailingStore:
    """Delegates to a real store, but every commit fails as if the disk were gone."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner

    async def accept(self, items: Any, rejected: Any = None) -> Any:
        raise StoreError("disk unavailable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_commit_failure_leaves_the_message_then_poison_is_quarantined(
    store: SQLiteStore,
) -> None:
    sent = traffic(batches=1, tasks=1)
    async with running_emulator(EmulatorConfig(port=0)) as emu:
        fill(emu, sent.events[:1], visibility=1)
        failing = FailingStore(store)
        metrics = Metrics()
        source = MnsQueueSource(
            source_config(emu.url, max_dequeue_count=3),
            Pipeline(failing, metrics),  # type: ignore[arg-type]
            metrics,
        )
        await source.start()
        try:
            await wait_until(queue_empty(emu), timeout=20)
        finally:
            await source.stop(grace=5)
    [poison] = (await store.list_quarantine(10, "")).items
    assert poison.reason == "poison"
    assert "failed 3 deliveries" in poison.detail
    assert metrics.mns_failures.labels(queue=QUEUE, reason="store")._value.get() >= 3


async def test_slow_commit_keeps_messages_invisible(store: SQLiteStore) -> None:
    sent = traffic(batches=1, tasks=2)

    class SlowStore(FailingStore):
        async def accept(self, items: Any, rejected: Any = None) -> Any:
            await asyncio.sleep(4.0)  # twice the queue's visibility timeout
            return await self.inner.accept(items, rejected)

    # Margins of seconds, not tenths: a loaded CI machine may run a visibility change late.
    async with running_emulator(EmulatorConfig(port=0)) as emu:
        fill(emu, sent.events[:3], visibility=2)
        metrics = Metrics()
        slow = SlowStore(store)
        source = MnsQueueSource(
            source_config(emu.url, pollers=2, extend_after=0.5, visibility_timeout=3),
            Pipeline(slow, metrics),  # type: ignore[arg-type]
            metrics,
        )
        await source.start()
        try:
            await wait_until(queue_empty(emu), timeout=20)
        finally:
            await source.stop(grace=5)
    # Kept invisible while committing: no message was handed out twice.
    duplicates = sum(s.value for m in metrics.duplicates.collect() for s in m.samples
                     if s.name.endswith("_total"))  # fmt: skip
    assert duplicates == 0


async def test_stop_during_long_poll_is_prompt(store: SQLiteStore) -> None:
    async with running_emulator(EmulatorConfig(port=0, queues=(QUEUE,))) as emu:
        metrics = Metrics()
        source = MnsQueueSource(source_config(emu.url, wait_seconds=20), Pipeline(store, metrics),
                                metrics)  # fmt: skip
        await source.start()
        await asyncio.sleep(0.3)
        assert source.running
        async with asyncio.timeout(3):
            await source.stop(grace=10)
        assert not source.running


async def test_wrong_secret_is_an_auth_failure_with_backoff(store: SQLiteStore) -> None:
    async with running_emulator(EmulatorConfig(port=0, queues=(QUEUE,))) as emu:
        metrics = Metrics()
        config = source_config(emu.url, access_key_secret="wrong", pollers=1)
        source = MnsQueueSource(config, Pipeline(store, metrics), metrics)
        await source.start()
        await wait_until(
            lambda: metrics.mns_failures.labels(queue=QUEUE, reason="auth_error")._value.get() >= 2
        )
        await source.stop(grace=2)


def test_backoff_is_full_jitter_and_bounded() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(0))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(4.0, 0.5 * 2**n) for n in range(10)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[5:]) <= 4.0
    backoff.reset()
    assert backoff.next_delay() <= 0.5

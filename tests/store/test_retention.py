"""The pruner (store/retention.py): passes on the lease holder only, metrics, and ingest
that keeps flowing while a big batch's journal is pruned, on both stores."""

from __future__ import annotations

import asyncio
import time

import pytest

from batchrelay.store.base import CommitOutcome, Store
from batchrelay.store.retention import Pruner, RetentionConfig

from .conformance_support import StoreFactory
from .factories import at, imm_batch, imm_task, inbound

BIG = 20_000  # journal rows of the batch pruned


async def closed_batch(store: Store, tasks: int) -> None:
    events = [imm_batch("big", "running", 0)]
    events += [imm_task(f"big-{n}", "succeeded", 1 + n / 1000, batch_key="big")
               for n in range(tasks)]  # fmt: skip
    events.append(imm_batch("big", "succeeded", 100))
    for start in range(0, len(events), 2000):
        await store.commit_many([inbound(e) for e in events[start : start + 2000]])


def config(**overrides: object) -> RetentionConfig:
    return RetentionConfig.model_validate({"raw": None, "deliveries": None, "quarantine": None,
                                           "alerts": None, **overrides})  # fmt: skip


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    return await make_store()


async def test_a_pass_prunes_and_reports_only_on_the_lease_holder(store: Store) -> None:
    await closed_batch(store, 50)
    pruned: dict[str, int] = {}
    sizes: list[dict[str, int]] = []

    def count(table: str, n: int) -> None:
        pruned[table] = pruned.get(table, 0) + n

    now = at(100).timestamp() + 3600
    held = False
    pruner = Pruner(store.retention, config(events="30m", chunk=7), lambda: held, count,
                    sizes.append, clock=lambda: now)  # fmt: skip
    assert await pruner.run_pass() == {} and pruned == {}
    held = True
    total = await pruner.run_pass()
    assert total["events"] == 52 and pruned == total
    assert sizes and sizes[-1]["events"] > 0
    assert await pruner.run_pass() == {}


async def test_commits_keep_flowing_while_a_big_journal_is_pruned(store: Store) -> None:
    await closed_batch(store, BIG)
    now = at(100).timestamp() + 3600
    pruner = Pruner(store.retention, config(events="30m", chunk=1000), lambda: True,
                    clock=lambda: now)  # fmt: skip
    latencies: list[float] = []

    async def push() -> None:
        n = 0
        while not pruning.done():
            started = time.perf_counter()
            event = imm_task(f"live-{n}", "running", 200 + n, batch_key="live")
            assert await store.commit(inbound(event)) is CommitOutcome.COMMITTED
            latencies.append(time.perf_counter() - started)
            n += 1
            await asyncio.sleep(0.001)

    pruning = asyncio.ensure_future(pruner.run_pass())
    await asyncio.gather(pruning, push())
    assert pruning.result()["events"] == BIG + 2
    live = await store.get_batch("live")
    assert live is not None and live.events == len(latencies) > 1
    # each commit waited for one pruning step at most, never for the whole prune
    assert max(latencies) < 1.0

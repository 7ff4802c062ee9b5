"""The ledger depends on what was sent, not on how often or in which order it arrived."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchrelay.metrics import Metrics
from batchrelay.simulate import SimulateOptions, encode, generate
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.sqlite.store import SQLiteStore

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bodies() -> list[tuple[bytes, str]]:
    """A mixed stream over three wires: IMM by queue and EventBridge, ICE by callback."""
    out: list[tuple[bytes, str]] = []
    for kind, wire, ingress, seed in [
        ("imm-batch", "mns", "mns-queue", 1),
        ("imm-trigger", "eventbridge", "eventbridge", 2),
        ("ice-batch", "ice", "ice-http", 3),
    ]:
        options = SimulateOptions(kind=kind, batches=3, tasks=40, failure_ratio=0.3, seed=seed,
                                  fast_fail_ratio=0.3, start_time=START)  # fmt: skip
        out += [(encode(e, wire), ingress) for e in generate(options.spec(START)).events]
    return out


async def snapshot_after(path: Path, stream: list[tuple[bytes, str]]) -> dict[str, Any]:
    store = SQLiteStore(path, synchronous="NORMAL")
    await store.start()
    try:
        pipeline = Pipeline(store, Metrics())
        for body, ingress in stream:
            result = await pipeline.ingest(body, ingress, {})  # type: ignore[arg-type]
            assert not result.errors
        return await store.ledger_snapshot()
    finally:
        await store.close()


async def test_twice_and_shuffled_give_the_same_ledger(
    tmp_path: Path, bodies: list[tuple[bytes, str]]
) -> None:
    once = await snapshot_after(tmp_path / "once.db", bodies)
    twice = await snapshot_after(tmp_path / "twice.db", bodies + bodies)
    shuffled = list(bodies)
    random.Random(9).shuffle(shuffled)
    reordered = await snapshot_after(tmp_path / "shuffled.db", shuffled)
    assert once["batches"], "the stream produced no batches"
    assert twice == once
    assert reordered == once


async def test_rebuild_gives_the_identical_ledger(
    tmp_path: Path, bodies: list[tuple[bytes, str]]
) -> None:
    shuffled = list(bodies)
    random.Random(3).shuffle(shuffled)
    before = await snapshot_after(tmp_path / "ledger.db", shuffled)
    store = SQLiteStore(tmp_path / "ledger.db")
    await store.start()
    try:
        assert await store.rebuild_ledger() == len(bodies)
        assert await store.ledger_snapshot() == before
    finally:
        await store.close()

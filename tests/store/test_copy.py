"""Moving from SQLite to PostgreSQL: ``batchrelay store copy`` replays the journal."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchrelay import store
from batchrelay.cli import main
from batchrelay.simulate import SimulateOptions, encode, generate
from batchrelay.store.base import Inbound
from batchrelay.store.config import StoreConfig

from .conftest import PostgresStoreFactory

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


async def test_copy_sqlite_into_postgres_gives_the_same_ledger(
    tmp_path: Path, postgres_store_factory: PostgresStoreFactory, capsys: Any
) -> None:
    dsn = await postgres_store_factory.dsn("copy_target")
    sqlite_url = f"sqlite:///{tmp_path}/old.db"
    config = tmp_path / "pg.yaml"
    config.write_text(f"store: {{url: '{dsn}'}}\nlog: {{level: warning}}\n")
    options = SimulateOptions(kind="imm-batch", batches=4, tasks=60, seed=3, failure_ratio=0.2,
                              start_time=START)  # fmt: skip
    sent = generate(options.spec(START))
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(b"\n".join(encode(event, "eventbridge") for event in sent.events))
    old = tmp_path / "old.yaml"
    old.write_text(f"store: {{url: '{sqlite_url}'}}\nlog: {{level: warning}}\n")
    assert await main_async(["ingest", str(lines), "-c", str(old)]) == 0
    capsys.readouterr()
    source = store.open(StoreConfig(url=sqlite_url))
    await source.start()
    expected = await source.ledger_snapshot()
    journal = await source.read_journal(0, 10_000)
    await source.close()
    assert len(journal) == len(sent.events)
    assert [seq for seq, _ in journal] == sorted(seq for seq, _ in journal)

    assert await main_async(["store", "copy", "--from", sqlite_url, "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"copied": len(sent.events), "already_there": 0}
    # run again (an interrupted copy is simply repeated): nothing is copied twice
    assert await main_async(["store", "copy", "--from", sqlite_url, "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"copied": 0, "already_there": len(sent.events)}

    target = await postgres_store_factory("copy_target")
    assert await target.ledger_snapshot() == expected
    copied = await target.read_journal(0, 10_000)

    def contents(entries: list[tuple[int, Inbound]]) -> list[tuple[Any, ...]]:
        return sorted((i.event.event_id, i.event, i.raw, i.received_at) for _, i in entries)

    assert contents(copied) == contents(journal)  # every event, its bytes and arrival


async def test_copy_from_a_bad_url_is_a_usage_error(tmp_path: Path, capsys: Any) -> None:
    assert await main_async(["store", "copy", "--from", "mysql://x/y"]) == 2
    err = capsys.readouterr().err
    assert "unsupported store 'mysql'" in err and err.count("\n") == 1


async def main_async(argv: list[str]) -> int:
    """``main`` runs its own event loop: give it a thread of its own."""
    return await asyncio.to_thread(main, argv)

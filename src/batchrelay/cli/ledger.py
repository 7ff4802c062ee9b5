"""``batchrelay ledger show|rebuild`` and ``batchrelay store copy|stats``."""

from __future__ import annotations

import argparse
import asyncio
import json

from batchrelay.cli.common import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    open_existing,
    open_store,
    settings_of,
)
from batchrelay.config import Settings
from batchrelay.terminal import Column, print_listing, wants_table


def cmd_ledger(args: argparse.Namespace) -> int:
    return asyncio.run(_ledger(settings_of(args), args.action, args.batch_key, args.json))


_BATCH_COLUMNS: list[Column] = [
    ("BATCH", lambda b: b["batch_key"]),
    ("KIND", lambda b: b["kind"]),
    ("STATE", lambda b: b["state"]),
    ("PROJECT", lambda b: b.get("project")),
    ("TASKS", lambda b: " ".join(f"{k} {v}" for k, v in sorted(b["task_counts"].items()))),
    ("UPDATED", lambda b: b["update_time"]),
]


async def _ledger(settings: Settings, action: str, batch_key: str | None, as_json: bool) -> int:
    store = open_existing(settings)
    await store.start()
    try:
        if action == "rebuild":
            count = await store.rebuild_ledger()
            print(json.dumps({"rebuilt_from_events": count}))
            return EXIT_OK
        if batch_key:
            batch = await store.get_batch(batch_key)
            if batch is None:
                fail(f"ledger: no batch {batch_key!r}")
                return EXIT_INPUT
            print(json.dumps(batch.model_dump(mode="json"), ensure_ascii=False, indent=2))
            return EXIT_OK
        snapshot = await store.ledger_snapshot()
        if wants_table(as_json):
            print_listing(list(snapshot["batches"].values()), _BATCH_COLUMNS, as_table=True,
                          empty="No batches yet.")  # fmt: skip
        else:
            print(json.dumps(snapshot, ensure_ascii=False, indent=2))
        return EXIT_OK
    finally:
        await store.close()


def cmd_store(args: argparse.Namespace) -> int:
    if args.action == "stats":
        return asyncio.run(_store_stats(settings_of(args), args.json))
    if not args.source:
        fail("store copy: --from URL is required (the store to read)")
        return EXIT_USAGE
    return asyncio.run(_store_copy(settings_of(args), args.source))


_STATS_COLUMNS: list[Column] = [
    ("TABLE", lambda t: t["table"]),
    ("ROWS", lambda t: f"{t['rows']:,}"),
    ("SIZE", lambda t: f"{t['bytes'] / 1_048_576:,.1f} MiB"),
    ("OLDEST", lambda t: t["oldest"] or "-"),
]


async def _store_stats(settings: Settings, as_json: bool) -> int:
    """Every table's rows, bytes on disk (indexes included) and oldest row (by its time)."""
    store = open_existing(settings)
    await store.start()
    try:
        stats = [
            {"table": t.table, "rows": t.rows, "bytes": t.bytes,
             "oldest": t.oldest.isoformat() if t.oldest else None}
            for t in await store.retention.stats()
        ]  # fmt: skip
    finally:
        await store.close()
    if wants_table(as_json):
        print_listing(stats, _STATS_COLUMNS, as_table=True, empty="No tables.")
    else:
        print(json.dumps(stats, indent=2))
    return EXIT_OK


async def _store_copy(settings: Settings, source_url: str) -> int:
    """Replay the source's journal, in arrival order, into the configured store.

    Idempotent (an event already there is a duplicate), so an interrupted copy is simply run
    again. Nothing is routed or marked for alerting: old events notify no one.
    """
    from pydantic import ValidationError

    from batchrelay.alerts.rules import AlertsConfig, DigestConfig
    from batchrelay.store.base import CommitOutcome
    from batchrelay.store.config import StoreConfig

    quiet = {"routing": None, "alerts": AlertsConfig(digest=DigestConfig(enabled=False))}
    try:
        source_cfg = StoreConfig(url=source_url)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        fail(f"store copy: --from: {problem}")
        return EXIT_USAGE
    source = open_existing(settings.model_copy(update={**quiet, "store": source_cfg}))
    target = open_store(settings.model_copy(update=quiet))
    await source.start()
    try:
        await target.start()
        try:
            copied = duplicates = 0
            after = 0
            while page := await source.read_journal(after, 1000):
                outcomes = await target.commit_many([inbound for _, inbound in page])
                after = page[-1][0]
                copied += sum(o is CommitOutcome.COMMITTED for o in outcomes)
                duplicates += sum(o is CommitOutcome.DUPLICATE for o in outcomes)
            print(json.dumps({"copied": copied, "already_there": duplicates}))
            return EXIT_OK
        finally:
            await target.close()
    finally:
        await source.close()

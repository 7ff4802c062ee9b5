"""Delivery rate: 10,000 notifications to a local webhook sink, batchrelay against Apprise.

batchrelay: 10,000 committed events, each its own notification group, go through the
outbox and the dispatcher (claim, render, send, record each attempt durably in SQLite)
to the sink with its webhook receiver. Apprise: the same number of ``json://`` notifies
to the same sink, with the same concurrency. The sink is a bare aiohttp child process
that answers 200. Apprise is installed only for this benchmark (``make bench`` does it).

    python bench/deliver.py [--notifications 10000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import apprise
from _common import child, free_port

from batchrelay import log
from batchrelay.delivery.config import DeliveryConfig
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.events.models import ImmTaskEvent
from batchrelay.metrics import Metrics
from batchrelay.notifiers import build_notifier
from batchrelay.notifiers.config import RECEIVER_ADAPTER
from batchrelay.routing.obligations import Router
from batchrelay.routing.tree import RouteTree, RoutingConfig
from batchrelay.store.base import Inbound
from batchrelay.store.contracts import CommitHooks
from batchrelay.store.sqlite.store import SQLiteStore, commit_hook


def event(n: int) -> ImmTaskEvent:
    return ImmTaskEvent(
        event_id=f"bench-{n}", source="acs.imm", type="imm:Task:OfficeConversion",
        time=datetime(2026, 11, 20, 3, 0, tzinfo=UTC), ingress="replay", project="bench",
        batch_key=f"batch-{n % 20}", task_id=f"OfficeConversion-{n}", status="failed",
        raw_status="Failed", code="InvalidFile.Corrupted", object_path=f"oss://in/{n}.docx",
    )  # fmt: skip


async def count_outbox(store: SQLiteStore) -> int:
    rows = await store.read(
        lambda c: c.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'").fetchone()
    )
    return int(rows[0])


async def through_batchrelay(url: str, count: int, concurrency: int, folder: Path) -> float:
    import aiohttp

    tree = RouteTree(RoutingConfig.model_validate(
        {"route": {"receiver": "sink", "group_by": ["..."], "group_wait": "1ms"}}))  # fmt: skip
    store = SQLiteStore(
        folder / "deliver.db",
        synchronous="FULL",
        on_commit=commit_hook(CommitHooks(route=Router(tree))),
    )
    await store.start()
    receiver = RECEIVER_ADAPTER.validate_python({"type": "webhook", "url": url})
    at = datetime.now(UTC)
    for start in range(0, count, 500):
        await store.commit_many([Inbound(event(n), b"{}", at) for n in range(start, start + 500)])
    async with aiohttp.ClientSession() as session:
        notifier = build_notifier("sink", receiver, session)
        config = DeliveryConfig(tick=0.01, max_in_flight=concurrency)
        dispatcher = Dispatcher(store, tree, {"sink": receiver}, {"sink": notifier}, Metrics(),
                                config=config)  # fmt: skip
        started = time.perf_counter()
        while await count_outbox(store) < count:
            await dispatcher.tick()
        elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


async def through_apprise(url: str, count: int, concurrency: int) -> float:
    notify = apprise.Apprise()
    notify.add(url.replace("http://", "json://"))
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            ok = await notify.async_notify(title=f"batch-{n % 20}", body=f"task {n} failed")
            assert ok, "Apprise could not deliver"

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


def main() -> None:
    log.configure("warning")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    n, concurrency = args.notifications, args.concurrency
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv = ["bench/bare_server.py", str(port), "200"]
        with child(argv, f"http://127.0.0.1:{port}/healthz", folder / "sink.log"):
            apprised = asyncio.run(through_apprise(url, n, concurrency))
            relayed = asyncio.run(through_batchrelay(url, n, concurrency, folder))
    print(f"deliver: {n} notifications to a local webhook sink, concurrency {concurrency}")
    print(f"{'sender':<58} | seconds | notifications/s")
    rows = [("Apprise json:// (no retries or records)", apprised),
            ("batchrelay (outbox, dispatcher, durable attempt records)", relayed)]  # fmt: skip
    for label, seconds in rows:
        print(f"{label:<58} | {seconds:7.2f} | {n / seconds:15.0f}")
    print(f"ratio: batchrelay / Apprise = {apprised / relayed:.2f}")


if __name__ == "__main__":
    main()

"""MNS drain rate: batchrelay's queue consumer against the loop a user would write.

Both drain the same 20,000 simulated IMM/ICE messages from a local MNS emulator (a child
process) and do the same work per message: decode, parse and durably commit to SQLite
(synchronous=FULL) through batchrelay's pipeline. The naive loop receives one message,
processes it, deletes it, and repeats, with the official SDK on one thread. batchrelay
uses its pollers: batch receive of 16 with long polling, concurrent commits that share
group commits, batch delete.

    python bench/mns_consume.py [--messages 20000] [--pollers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import child, free_port
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from batchrelay import log
from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID as KEY_ID
from batchrelay.emulator import DEFAULT_ACCESS_KEY_SECRET as KEY_SECRET
from batchrelay.metrics import Metrics
from batchrelay.simulate import SimulateOptions, encode, generate
from batchrelay.sources.config import MnsQueueConfig
from batchrelay.sources.mns_queue import MnsQueueSource
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.sqlite.store import SQLiteStore

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def bodies(count: int) -> list[str]:
    # A mixed IMM/ICE batch of 250 files is about 370 messages; make enough, keep `count`.
    options = SimulateOptions(kind="mixed", batches=count // 300 + 1, tasks=250, seed=1,
                              start_time=START)  # fmt: skip
    events = generate(options.spec(START)).events
    assert len(events) >= count, "generate more batches"
    return [encode(e, "mns").decode() for e in events][:count]


def queue(endpoint: str, name: str) -> Any:
    q = Account(endpoint, KEY_ID, KEY_SECRET).get_queue(name)
    q.set_encoding(False)
    return q


def fill(endpoint: str, name: str, messages: list[str]) -> None:
    q = queue(endpoint, name)
    q.create(QueueMeta(vis_timeout=30))
    for start in range(0, len(messages), 16):
        q.batch_send_message([Message(m) for m in messages[start : start + 16]])


def depth(endpoint: str, name: str) -> int:
    attrs = queue(endpoint, name).get_attributes()
    with warnings.catch_warnings():  # deprecated in the SDK, still served
        warnings.simplefilter("ignore", DeprecationWarning)
        return int(attrs.active_messages) + int(attrs.inactive_messages)


async def with_store(folder: Path, name: str) -> tuple[SQLiteStore, Pipeline]:
    store = SQLiteStore(folder / f"{name}.db", synchronous="FULL")
    await store.start()
    return store, Pipeline(store, Metrics())


async def drain_with_batchrelay(endpoint: str, name: str, folder: Path, pollers: int) -> float:
    store, pipeline = await with_store(folder, name)
    config = MnsQueueConfig(endpoint=endpoint, queue=name, access_key_id=KEY_ID,
                            access_key_secret=KEY_SECRET, pollers=pollers,
                            wait_seconds=1)  # fmt: skip
    source = MnsQueueSource(config, pipeline, pipeline.metrics)
    started = time.perf_counter()
    await source.start()
    while await asyncio.to_thread(depth, endpoint, name):
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await source.stop()
    await store.close()
    return elapsed


async def drain_naively(endpoint: str, name: str, folder: Path) -> float:
    """receive_message → process → delete_message, one at a time, as in the SDK samples."""
    store, pipeline = await with_store(folder, name)
    loop = asyncio.get_running_loop()

    def consume() -> None:
        q = queue(endpoint, name)
        while True:
            try:
                message = q.receive_message(wait_seconds=1)
            except MNSServerException as exc:
                if exc.type == "MessageNotExist":
                    return
                raise
            work = pipeline.ingest(message.message_body.encode(), "mns-queue", {})
            asyncio.run_coroutine_threadsafe(work, loop).result()
            q.delete_message(message.receipt_handle)

    started = time.perf_counter()
    worker = threading.Thread(target=consume)
    worker.start()
    await asyncio.to_thread(worker.join)
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


def main() -> None:
    log.configure("warning")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--pollers", type=int, default=8)
    args = parser.parse_args()
    messages = bodies(args.messages)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv = ["-m", "batchrelay", "emulator", "--port", str(port), "--log-level", "warning"]
        with child(argv, f"{endpoint}/x509_public_certificate.pem", folder / "emulator.log"):
            fill(endpoint, "naive", messages)
            naive = asyncio.run(drain_naively(endpoint, "naive", folder))
            fill(endpoint, "relay", messages)
            relay = asyncio.run(drain_with_batchrelay(endpoint, "relay", folder, args.pollers))
    n = len(messages)
    print(f"mns_consume: drain {n} messages from the emulator, durable commit (SQLite FULL)")
    print("consumer                                 | seconds | messages/s")
    print(f"naive loop (receive 1, process, delete 1) | {naive:7.2f} | {n / naive:10.0f}")
    print(
        f"batchrelay ({args.pollers} pollers, batch 16)         | {relay:7.2f} | {n / relay:10.0f}"
    )
    print(f"ratio: batchrelay drains {naive / relay:.1f}x faster")


if __name__ == "__main__":
    main()

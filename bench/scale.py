"""Scale: what a year of big batches costs the store, and whether retention holds it level.

Soak (``--soak 30m``): a daemon on SQLite with short retention (``--raw 2m``, ``--events
5m``, pruning every ``--interval``) takes IMM batch traffic at ``--rate`` events a second
over EventBridge, event times following the wall clock: batches of ``--tasks`` files, each
reported running then succeeded (one in twenty failed), the batch running before and
succeeded after them. Every minute this prints the database's size on disk (file and
WAL), the events committed, the rows pruned so far and the store's own size gauge. With
retention working, the size levels off once the first batches are past it, but for the
ledger, which retention keeps unless ``--batches`` says otherwise: it grows with the tasks.

Bytes per event (``--bytes 200000``): that many of bench/ingest.py's CloudEvents (522
bytes, each a task of its own, as wrk sends them) committed to a new SQLite store through
the Store; printed: the file's size per event against the body's size, and the share of
each table (indexes counted with their table).

Prune and rebuild (``--prune DB``, e.g. the store bench/dashboard.py --db keeps): on a
copy of DB, its batches are closed (a succeeded batch event each), then timed: ``ledger
rebuild`` from the whole journal, pruning every journal row with ``retention.events``
(snapshots written as it goes, 1,000 rows a step), and ``ledger rebuild`` again from the
snapshots alone, which must give the same ledger.

    python bench/scale.py --soak 30m [--rate 500] [--raw 2m] [--events 5m]
    python bench/scale.py --bytes 200000
    python bench/scale.py --prune /tmp/m1.db
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from _common import child, free_port
from prometheus_client.parser import text_string_to_metric_families

from batchrelay.routing.tree import parse_duration

TOKEN = "scale-bench-token"


def soak_config(folder: Path, port: int, args: argparse.Namespace) -> Path:
    config = folder / "soak.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": port},
        "store": {"url": f"sqlite:///{folder}/soak.db", "synchronous": "NORMAL"},
        "ingress": {"eventbridge": {"enabled": True, "token": TOKEN}},
        "log": {"level": "warning", "format": "json"},
        "retention": {"raw": args.raw, "events": args.events, "deliveries": args.events,
                      "quarantine": args.events, "alerts": args.events,
                      "interval": args.interval, "batches": args.batches},
    }))  # fmt: skip
    return config


def metrics(base: str) -> dict[str, float]:
    """The pruned rows and store bytes, summed over tables."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    sums = {"pruned": 0.0, "store_bytes": 0.0, "committed": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "batchrelay_pruned_rows_total":
                sums["pruned"] += sample.value
            elif sample.name == "batchrelay_store_bytes":
                sums["store_bytes"] += sample.value
            elif (
                sample.name == "batchrelay_inputs_total"
                and sample.labels.get("outcome") == "committed"
            ):
                sums["committed"] += sample.value
    return sums


def disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("soak.db*"))


def soak(args: argparse.Namespace) -> None:
    seconds = parse_duration(args.soak)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = soak_config(folder, port, args)
        retention = f"retention raw {args.raw}, events {args.events}, batches {args.batches}"
        print(f"soak: {seconds / 60:.0f} min at {args.rate} events/s, {retention}, "
              f"pruning every {args.interval}", flush=True)  # fmt: skip
        with child(["-m", "batchrelay", "run", "-c", str(config)], f"{base}/readyz",
                   folder / "daemon.log"):  # fmt: skip
            load = send(base, args.rate, args.tasks, seconds)
            sender = threading.Thread(target=asyncio.run, args=(load,), daemon=True)
            sender.start()
            started = time.monotonic()
            print(" minute   db+wal MB   events in   rows pruned   store gauge MB", flush=True)
            for minute in range(1, int(seconds // 60) + 1):
                time.sleep(max(0.0, started + minute * 60 - time.monotonic()))
                m = metrics(base)
                size, gauge = disk(folder) / 1e6, m["store_bytes"] / 1e6
                print(f" {minute:6d}   {size:9.1f}   {m['committed']:9.0f}"
                      f"   {m['pruned']:11.0f}   {gauge:14.1f}", flush=True)  # fmt: skip
            sender.join(timeout=30)


def cloud_event(event_id: str, kind: str, data: dict[str, Any]) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({
        "specversion": "1.0", "id": event_id, "source": "acs.imm", "type": kind,
        "subject": "acs.imm:cn-shanghai:1234567890123456:soak", "time": now,
        "datacontenttype": "application/json", "data": data,
    }).encode()  # fmt: skip


def batch_stream(tasks: int) -> Iterator[bytes]:
    """Batch after batch: running, each task running then done, succeeded."""
    for b in itertools.count():
        key = f"batch-soak-{b:07d}"
        batch = {"ProjectName": "soak", "Id": key, "Phase": "", "Error": "",
                 "Statistic": {"SubmitSuccess": 0, "SubmitFailure": 0, "SkipFiles": 0},
                 "Tags": {"team": "soak"}}  # fmt: skip
        yield cloud_event(f"{key}-r", "imm:Batch:Notification", {**batch, "State": "Running"})
        for n in range(tasks):
            task = {"ProjectName": "soak", "TaskType": "OfficeConversion", "EventSourceId": key,
                    "TaskId": f"{key}-task-{n:05d}", "Code": "", "Message": "",
                    "Sources": [{"URI": f"oss://soak/in/{key}/file-{n:05d}.docx"}]}  # fmt: skip
            yield cloud_event(f"{key}-{n}-r", "imm:Task:OfficeConversion",
                              {**task, "Status": "Running"})  # fmt: skip
            failed = n % 20 == 0
            done = {"Status": "Failed" if failed else "Succeeded",
                    "Code": "InvalidFile.Corrupted" if failed else ""}  # fmt: skip
            yield cloud_event(f"{key}-{n}-d", "imm:Task:OfficeConversion", {**task, **done})
        yield cloud_event(f"{key}-s", "imm:Batch:Notification", {**batch, "State": "Succeeded"})


async def send(base: str, rate: int, tasks: int, seconds: float) -> None:
    """``rate`` events a second, each on its own schedule, for ``seconds``."""
    stream = batch_stream(tasks)
    headers = {
        "Content-Type": "application/cloudevents+json",
        "x-eventbridge-signature-token": TOKEN,
    }
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:

        async def worker(index: int, workers: int) -> None:
            n = index
            while (due := started + n / rate) < started + seconds:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                async with session.post(f"{base}/ingest/eventbridge", data=next(stream),
                                        headers=headers) as resp:  # fmt: skip
                    await resp.read()
                n += workers

        await asyncio.gather(*(worker(i, 32) for i in range(32)))


def bytes_per_event(count: int) -> None:
    from ingest import cloud_event

    from batchrelay.events.decode import decode
    from batchrelay.events.parse import parse
    from batchrelay.store.base import Inbound
    from batchrelay.store.sqlite.store import SQLiteStore

    async def fill(path: Path) -> int:
        store = SQLiteStore(path, synchronous="NORMAL", max_group=2048)
        await store.start()
        raw_total = 0
        try:
            for start in range(0, count, 1000):
                items = []
                for _ in range(min(1000, count - start)):
                    raw = cloud_event("size")
                    raw_total += len(raw)
                    [doc] = decode(
                        raw, "eventbridge", {"content-type": "application/cloudevents+json"}
                    )
                    now = datetime.now(UTC)
                    items.append(Inbound(parse(doc, "eventbridge", received_at=now), raw, now))
                await store.commit_many(items)
        finally:
            await store.close()
        return raw_total

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "size.db"
        raw_total = asyncio.run(fill(path))
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (pages,) = conn.execute("PRAGMA page_count").fetchone()
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
            (page,) = conn.execute("PRAGMA page_size").fetchone()
            tables = conn.execute(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat AS d"
                " LEFT JOIN sqlite_schema AS m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        used = (pages - free) * page
        body = raw_total / count
        print(f"{count:,} events of {body:.0f} B: {used / count:.0f} B per event on SQLite, "
              f"{used / raw_total:.2f}x the body")  # fmt: skip
        for table, size in tables[:8]:
            print(f"  {table:<20} {size / count:7.0f} B per event")


def prune_and_rebuild(source: Path) -> None:
    import shutil

    from batchrelay.events.models import ImmBatchEvent
    from batchrelay.store.base import BatchQuery, Inbound
    from batchrelay.store.contracts import Cutoffs
    from batchrelay.store.row_codec import to_us
    from batchrelay.store.sqlite.store import SQLiteStore

    async def run(path: Path) -> None:
        store = SQLiteStore(path, synchronous="NORMAL")
        await store.start()
        try:
            batches = (await store.list_batches(BatchQuery())).items
            keys = [b.batch_key for b in batches]
            # closed a minute of event time after everything else (fills may run ahead of now)
            late = max([datetime.now(UTC), *(b.last_seen for b in batches)]) + timedelta(minutes=1)
            for key in keys:
                done = ImmBatchEvent(
                    event_id=f"{key}-closed", source="acs.imm", type="imm:Batch:Notification",
                    time=late, ingress="eventbridge", batch_key=key, status="succeeded",
                    raw_status="Succeeded",
                )  # fmt: skip
                await store.commit(Inbound(done, b"{}", late))
            started = time.perf_counter()
            replayed = await store.rebuild_ledger()
            took = time.perf_counter() - started
            print(f"rebuild from the journal: {replayed:,} events in {took:.1f} s")
            before = await store.ledger_snapshot()
            cutoff = Cutoffs(events=to_us(late) + 1)
            started, pruned, steps = time.perf_counter(), 0, 0
            while found := await store.retention.prune(cutoff, 1000):
                pruned += found.get("events", 0)
                steps += 1
            took = time.perf_counter() - started
            print(f"pruned {pruned:,} journal rows in {steps:,} steps, {took:.1f} s: "
                  f"{pruned / took:,.0f} rows/s")  # fmt: skip
            started = time.perf_counter()
            replayed = await store.rebuild_ledger()
            took = time.perf_counter() - started
            same = await store.ledger_snapshot() == before
            print(f"rebuild from the snapshots: {replayed:,} events left, {took:.1f} s, "
                  f"same ledger: {same}")  # fmt: skip
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prune.db"
        for suffix in ("", "-wal"):  # what a clean close left in the WAL too
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{path}{suffix}")
        asyncio.run(run(path))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--soak", metavar="DURATION", help="run the soak for this long")
    parser.add_argument("--rate", type=int, default=500, help="events a second (soak)")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per batch (soak)")
    parser.add_argument("--raw", default="2m", help="retention.raw (soak)")
    parser.add_argument("--events", default="5m", help="retention.events (soak)")
    parser.add_argument("--interval", default="30s", help="retention.interval (soak)")
    parser.add_argument("--batches", help="retention.batches (soak; default: keep the ledger)")
    parser.add_argument("--bytes", type=int, metavar="EVENTS", help="measure bytes per event")
    parser.add_argument("--prune", metavar="DB", help="time pruning and rebuilds on a copy")
    args = parser.parse_args()
    if args.soak:
        soak(args)
    if args.bytes:
        bytes_per_event(args.bytes)
    if args.prune:
        prune_and_rebuild(Path(args.prune))


if __name__ == "__main__":
    main()

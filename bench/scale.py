"""Scale: what a year of big batches costs the store, and whether retention holds it level.

Scale (``--scale``): for each store (``--store``: SQLite, PostgreSQL or both; PostgreSQL
in a throwaway cluster, tests/pg.py, stopped at the end) and each shape (``--shapes``,
batches × tasks: one batch of 1,000,000 tasks and 1,000 batches of 1,000 by default), a
fresh store is filled with bench/dashboard.py's batches (events committed through the
Store's group commit, as the daemon's ingress does; each with the CloudEvent EventBridge
would send as its raw body), then measured: the fill rate; bytes per event (SQLite: the
file's pages in use; PostgreSQL: pg_total_relation_size over the tables after a VACUUM);
with a daemon serving the store, each API call of the batch page and two task searches
over HTTP, p50 and max over ``--rounds``; then, as ``--prune`` does, the rebuild from the
journal, the prune rate and the rebuild from the snapshots. One table at the end (the
README's); it exits non-zero when a rebuild from the snapshots gives another ledger. It
stops filling, and skips what is left, after ``--budget``.

Soak (``--soak 30m``): a daemon (``--store sqlite`` or ``postgres``) with short retention
(``--raw 2m``, ``--events 5m``, pruning every ``--interval``) takes IMM batch traffic at
``--rate`` events a second over EventBridge, event times following the wall clock: batches
of ``--tasks`` files, each reported running then succeeded (one in twenty failed), the
batch running before and succeeded after them. Every minute this prints the database's
size on disk (SQLite's file and WAL, PostgreSQL's pg_database_size), the events committed,
the rows pruned so far and the store's own size gauge. With retention working, the size
levels off once the first batches are past it, but for the ledger, which retention keeps
unless ``--batches`` says otherwise: it grows with the tasks.

Bytes per event (``--bytes 200000``): that many of bench/ingest.py's CloudEvents (522
bytes, each a task of its own, as wrk sends them) committed to a new SQLite store through
the Store; printed: the file's size per event against the body's size, and the share of
each table (indexes counted with their table).

Prune and rebuild (``--prune DB``, e.g. the store bench/dashboard.py --db keeps): on a
copy of DB, its batches are closed (a succeeded batch event each), then timed: ``ledger
rebuild`` from the whole journal, pruning every journal row with ``retention.events``
(snapshots written as it goes, 1,000 rows a step), and ``ledger rebuild`` again from the
snapshots alone, which must give the same ledger.

    python bench/scale.py --scale [--store sqlite,postgres] [--shapes 1x1000000,1000x1000]
    python bench/scale.py --soak 30m [--store sqlite] [--rate 500] [--raw 2m] [--events 5m]
    python bench/scale.py --bytes 200000
    python bench/scale.py --prune /tmp/m1.db
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from _common import CpuPressure, child, free_port, machine_load, median
from _stores import KINDS, BenchStore, Cluster, Kind, fresh_store, postgres_cluster
from dashboard import batch_events, batch_page_calls, fill, get, time_calls
from prometheus_client.parser import text_string_to_metric_families

from batchrelay.routing.tree import parse_duration
from batchrelay.store.base import Store

TOKEN = "scale-bench-token"
SAME_LEDGER = "same ledger after the rebuilds"


def soak_config(folder: Path, port: int, store: BenchStore, args: argparse.Namespace) -> Path:
    config = folder / "soak.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": port},
        "store": store.section,
        "ingress": {"eventbridge": {"enabled": True, "token": TOKEN}},
        "log": {"level": "warning", "format": "json"},
        "retention": {"raw": args.raw, "events": args.events, "deliveries": args.events,
                      "quarantine": args.events, "alerts": args.events,
                      "interval": args.interval, "batches": args.batches},
    }))  # fmt: skip
    return config


def metrics(base: str) -> dict[str, float]:
    """The pruned rows and store bytes, summed over tables, and each table's bytes."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    sums = {"pruned": 0.0, "store_bytes": 0.0, "committed": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "batchrelay_pruned_rows_total":
                sums["pruned"] += sample.value
            elif sample.name == "batchrelay_store_bytes":
                sums["store_bytes"] += sample.value
                sums[f"table {sample.labels['table']}"] = sample.value
            elif (
                sample.name == "batchrelay_inputs_total"
                and sample.labels.get("outcome") == "committed"
            ):
                sums["committed"] += sample.value
    return sums


def soak(args: argparse.Namespace) -> None:
    seconds = parse_duration(args.soak)
    kinds = args.store or ["sqlite"]
    if len(kinds) != 1:
        raise SystemExit("--soak runs on one store: --store sqlite or --store postgres")
    with (
        tempfile.TemporaryDirectory() as tmp,
        postgres_cluster(kinds == ["postgres"]) as cluster,
        fresh_store(kinds[0], Path(tmp) / "store", cluster) as store,
    ):
        folder = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = soak_config(folder, port, store, args)
        retention = f"retention raw {args.raw}, events {args.events}, batches {args.batches}"
        print(f"soak on {store.kind}: {seconds / 60:.0f} min at {args.rate} events/s, "
              f"{retention}, pruning every {args.interval}", flush=True)  # fmt: skip
        with child(["-m", "batchrelay", "run", "-c", str(config)], f"{base}/readyz",
                   folder / "daemon.log"):  # fmt: skip
            load = send(base, args.rate, args.tasks, seconds)
            sender = threading.Thread(target=asyncio.run, args=(load,), daemon=True)
            sender.start()
            started = time.monotonic()
            print(" minute   on disk MB   events in   rows pruned   store gauge MB", flush=True)
            minutes = [metrics(base)]
            for minute in range(1, int(seconds // 60) + 1):
                time.sleep(max(0.0, started + minute * 60 - time.monotonic()))
                m = metrics(base)
                minutes.append(m)
                size, gauge = store.disk_bytes() / 1e6, m["store_bytes"] / 1e6
                print(f" {minute:6d}   {size:10.1f}   {m['committed']:9.0f}"
                      f"   {m['pruned']:11.0f}   {gauge:14.1f}", flush=True)  # fmt: skip
            sender.join(timeout=30)
            growth_by_table(minutes)


def growth_by_table(minutes: list[dict[str, float]]) -> None:
    """Each table's size by the store's gauge at half time and at the end: what grows."""
    middle, last = len(minutes) // 2, len(minutes) - 1
    half, end = minutes[middle], minutes[last]
    print(f" table              MB at minute {middle:<3d}  MB at minute {last}")
    tables = sorted((k for k in end if k.startswith("table ")), key=lambda k: -end[k])
    for key in tables[:10]:
        print(f" {key[6:]:<20} {half.get(key, 0) / 1e6:15.1f} {end[key] / 1e6:15.1f}")


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


async def close_batches(store: Store, keys: list[str]) -> datetime:
    """A succeeded batch event for each batch, a minute of event time after everything
    else (fills may run ahead of now); returns that time."""
    from batchrelay.events.models import ImmBatchEvent
    from batchrelay.store.base import Inbound

    seen = [b.last_seen for key in keys if (b := await store.get_batch(key)) is not None]
    late = max([datetime.now(UTC), *seen]) + timedelta(minutes=1)
    for first in range(0, len(keys), 500):
        await store.commit_many([Inbound(ImmBatchEvent(
            event_id=f"{key}-closed", source="acs.imm", type="imm:Batch:Notification",
            time=late, ingress="eventbridge", batch_key=key, status="succeeded",
            raw_status="Succeeded",
        ), b"{}", late) for key in keys[first : first + 500]])  # fmt: skip
    return late


async def prune_and_rebuild(store: Store, keys: list[str]) -> dict[str, str]:
    """On a started store: the batches closed, then timed: ``ledger rebuild`` from the
    whole journal, pruning every journal row with ``retention.events`` (snapshots written
    as it goes, 1,000 rows a step), and ``ledger rebuild`` from the snapshots alone, which
    must give the same ledger. Printed as it goes; returned as table cells."""
    from batchrelay.store.contracts import Cutoffs
    from batchrelay.store.row_codec import to_us

    late = await close_batches(store, keys)
    started = time.perf_counter()
    replayed = await store.rebuild_ledger()
    rebuild = time.perf_counter() - started
    print(f"  rebuild from the journal: {replayed:,} events in {rebuild:.1f} s", flush=True)
    before = await store.ledger_snapshot()
    cutoff = Cutoffs(events=to_us(late) + 1)
    started, pruned, steps = time.perf_counter(), 0, 0
    while found := await store.retention.prune(cutoff, 1000):
        pruned += found.get("events", 0)
        steps += 1
    took = time.perf_counter() - started
    rate = pruned / took if took else 0.0
    print(f"  pruned {pruned:,} journal rows in {steps:,} steps, {took:.1f} s: "
          f"{rate:,.0f} rows/s", flush=True)  # fmt: skip
    started = time.perf_counter()
    left = await store.rebuild_ledger()
    again = time.perf_counter() - started
    same = await store.ledger_snapshot() == before
    print(f"  rebuild from the snapshots: {left:,} events left, {again:.1f} s, "
          f"same ledger: {same}", flush=True)  # fmt: skip
    return {
        "rebuild from the journal, s": f"{rebuild:.1f}",
        "prune the journal, rows/s": f"{rate:,.0f}",
        "rebuild from the snapshots, s": f"{again:.1f}",
        SAME_LEDGER: "yes" if same else "**NO**",
    }


def prune_copy(source: Path) -> None:
    """``--prune DB``: prune_and_rebuild on a copy of a SQLite store."""
    import shutil

    from batchrelay.store.base import BatchQuery
    from batchrelay.store.sqlite.store import SQLiteStore

    async def run(path: Path) -> None:
        store = SQLiteStore(path, synchronous="NORMAL")
        await store.start()
        try:
            keys, token = [], None
            while token != "":
                page = await store.list_batches(BatchQuery(next_token=token or ""))
                keys += [b.batch_key for b in page.items]
                token = page.next_token
            await prune_and_rebuild(store, keys)
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prune.db"
        for suffix in ("", "-wal"):  # what a clean close left in the WAL too
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{path}{suffix}")
        asyncio.run(run(path))


@dataclass(frozen=True)
class Shape:
    """``batches`` batches of ``tasks`` tasks each, every batch spread over three hours of
    event time (a second between tasks at most)."""

    batches: int
    tasks: int

    @classmethod
    def parse(cls, text: str) -> Shape:
        batches, _, tasks = text.lower().partition("x")
        return cls(int(batches), int(tasks))

    @property
    def name(self) -> str:
        return f"{self.batches:,} × {self.tasks:,}"

    @property
    def events(self) -> int:
        return self.batches * (self.tasks + 1)

    @property
    def step(self) -> timedelta:
        return timedelta(hours=3) / max(self.tasks, 10_800)

    @property
    def keys(self) -> list[str]:
        return [f"batch-{b:05d}" for b in range(self.batches)]


async def fill_store(bench: BenchStore, shape: Shape, deadline: float) -> tuple[int, float]:
    store = bench.open()
    await store.start()
    try:
        return await fill(store, shape.batches, shape.tasks, shape.step, deadline)
    finally:
        await store.close()


def read_latency(bench: BenchStore, shape: Shape, folder: Path, rounds: int) -> dict[str, str]:
    """A daemon on the store: the batch page's API calls and two task searches, each
    timed over HTTP ``rounds`` times after a warming round; cells of p50 / max in ms."""
    key = shape.keys[0]
    rare = f"clip-{shape.tasks * 2 // 3:05d}.mov"
    labels = {f"/api/v1/batches/{key}/tasks?search={rare}&max_results=50":
              "task search, one match (`clip-N.mov`), ms p50 / max",
              f"/api/v1/batches/{key}/tasks?search=7.mov&max_results=50":
              "task search, a tenth match (`7.mov`), ms p50 / max"}  # fmt: skip
    calls = [c for c in batch_page_calls(key) if c.startswith("/api/")] + list(labels)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = folder / "scale.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": port}, "store": bench.section,
        "log": {"level": "warning", "format": "json"},
    }))  # fmt: skip
    with child(["-m", "batchrelay", "run", "-c", str(config)], f"{base}/readyz",
               folder / "daemon.log"):  # fmt: skip
        for path in calls:
            get(base + path)
        times = time_calls(base, calls, rounds)
    cells = {}
    for path, samples in times.items():
        label = labels.get(path) or f"`{path.replace(key, '{key}')}`, ms p50 / max"
        cells[label] = f"{median(samples) * 1000:.1f} / {max(samples) * 1000:.1f}"
    return cells


def run_shape(
    kind: Kind, shape: Shape, cluster: Cluster | None, folder: Path, args: argparse.Namespace
) -> dict[str, str]:
    """One column of the table: fill a fresh store, measure it, read it, prune it."""
    cells: dict[str, str] = {}
    if time.monotonic() > args.deadline:
        print("  skipped: past the time budget", flush=True)
        return cells
    with fresh_store(kind, folder, cluster) as bench:
        committed, took = asyncio.run(fill_store(bench, shape, args.deadline))
        print(f"  filled {committed:,} events in {took:.1f} s", flush=True)
        if not committed:
            return cells
        cells["events committed"] = f"{committed:,}"
        cells["fill through the Store, events/s"] = f"{committed / took:,.0f}"
        sample = itertools.islice(batch_events(0, shape.tasks, shape.step), 1000)
        body = statistics.mean(len(item.raw) for item in sample)
        used = bench.bytes_in_use() / committed
        cells["bytes per event (× the raw body)"] = f"{used:,.0f} ({used / body:.2f}×)"
        if committed < shape.events:
            print("  stopped at the time budget", flush=True)
            return cells
        cells.update(read_latency(bench, shape, folder, args.rounds))
        if time.monotonic() > args.deadline:
            print("  stopped at the time budget", flush=True)
            return cells
        store = bench.open()

        async def prune() -> dict[str, str]:
            await store.start()
            try:
                return await prune_and_rebuild(store, shape.keys)
            finally:
                await store.close()

        cells.update(asyncio.run(prune()))
    return cells


def print_table(columns: dict[str, dict[str, str]]) -> None:
    rows = list(dict.fromkeys(row for cells in columns.values() for row in cells))
    print("| |" + "".join(f" {name} |" for name in columns))
    print("|---|" + "---:|" * len(columns))
    for row in rows:
        print(f"| {row} |" + "".join(f" {c.get(row, '—')} |" for c in columns.values()))


def scale(args: argparse.Namespace) -> None:
    kinds = args.store or list(KINDS)
    shapes = [Shape.parse(text) for text in args.shapes.split(",")]
    names = ", ".join(s.name for s in shapes)
    print(f"scale: {', '.join(kinds)}; shapes {names} (batches × tasks); {args.rounds} rounds"
          f" of reads; stops filling after {args.budget}", flush=True)  # fmt: skip
    before = machine_load()
    args.deadline = time.monotonic() + parse_duration(args.budget)
    columns: dict[str, dict[str, str]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        postgres_cluster("postgres" in kinds) as cluster,
        CpuPressure("during the run (its own work and others')") as during,
    ):
        for kind in kinds:
            for shape in shapes:
                name = f"{kind}, {shape.name}"
                print(f"{name}: {shape.events:,} events", flush=True)
                folder = Path(tmp) / f"{kind}-{shape.batches}x{shape.tasks}"
                columns[name] = run_shape(kind, shape, cluster, folder, args)
    print()
    print_table(columns)
    print(f"\n{before}; {during}")
    if any(c.get(SAME_LEDGER, "yes") != "yes" for c in columns.values()):
        raise SystemExit("a rebuild from the snapshots gave another ledger")


def stores(text: str) -> list[Kind]:
    kinds = [k for k in KINDS if k in text.split(",")]
    if not kinds or len(kinds) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"sqlite, postgres or sqlite,postgres, not {text!r}")
    return kinds


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
    parser.add_argument("--scale", action="store_true", help="fill, read, prune each shape")
    parser.add_argument("--store", type=stores, help="sqlite, postgres or sqlite,postgres"
                        " (scale: default both; soak: one, default sqlite)")  # fmt: skip
    parser.add_argument("--shapes", default="1x1000000,1000x1000",
                        help="BATCHESxTASKS, comma-separated (scale)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of reads (scale)")
    parser.add_argument("--budget", default="150m", help="stop filling after this long (scale)")
    args = parser.parse_args()
    if args.scale:
        scale(args)
    if args.soak:
        soak(args)
    if args.bytes:
        bytes_per_event(args.bytes)
    if args.prune:
        prune_copy(Path(args.prune))


if __name__ == "__main__":
    main()

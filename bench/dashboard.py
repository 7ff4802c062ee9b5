"""Dashboard load time with 1,000 batches and 100,000 tasks in one SQLite store.

The store is filled directly (events committed through the Store, 100 tasks per batch, as
the simulator's lifecycles would leave them), then a daemon process serves it. Measured:
the HTTP time of each page's shell plus the API calls its script makes (sequentially, the
worst case: the overview, the sparklines of 50 running batches, failure grouping), and,
when Chromium is there, the browser's load event plus the time until the
page's table is filled. Budget: one second per page.

    python bench/dashboard.py [--batches 1000] [--tasks 100] [--rounds 5] [--db PATH]

Each API call's median is printed under its page, against a budget of 100 ms a call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from _common import ROOT, child, free_port

from batchrelay.events.models import ImmBatchEvent, ImmTaskEvent, Statistic
from batchrelay.store.base import Inbound, Store
from batchrelay.store.sqlite.store import SQLiteStore

BUDGET = 1.0
CALL_BUDGET = 0.1  # each API call of a page
CHROMIUM = "/usr/bin/chromium"
T0 = datetime.now(UTC) - timedelta(hours=2)
CODES = ("InvalidFile.Corrupted", "ResourceNotFound", "InternalError")


def cloud_event_body(event: ImmTaskEvent | ImmBatchEvent, data: dict[str, Any]) -> bytes:
    """The CloudEvent EventBridge would have sent for ``event``: the journal's raw body."""
    return json.dumps({
        "specversion": "1.0", "id": event.event_id, "source": "acs.imm", "type": event.type,
        "subject": "acs.imm:cn-shanghai:1234567890123456:bench",
        "time": event.time.isoformat(timespec="milliseconds"),
        "datacontenttype": "application/json", "data": data,
    }).encode()  # fmt: skip


def batch_events(b: int, tasks: int, step: timedelta = timedelta(seconds=1)) -> Iterator[Inbound]:
    """Batch ``b``'s tasks, ``step`` apart, then its batch event: one in ten batches still
    running (its second half of tasks too), one task in 17 failed."""
    key = f"batch-{b:05d}"
    start = T0 + timedelta(seconds=b * 5)
    running = b % 10 == 0
    done = 0
    for n in range(tasks):
        failed = n % 17 == 0
        status = "running" if running and n > tasks // 2 else "failed" if failed else "succeeded"
        done += status != "running"
        at = start + n * step
        task = ImmTaskEvent(
            event_id=f"{key}-t{n}", source="acs.imm", type="imm:Task:MediaConvert", time=at,
            ingress="eventbridge", project="bench", batch_key=key, task_id=f"{key}-task-{n:05d}",
            task_type="MediaConvert", object_path=f"oss://in/{key}/clip-{n:05d}.mov",
            status=status, raw_status=status.title(), code=CODES[n % 3] if failed else "",
        )  # fmt: skip
        data = {"ProjectName": "bench", "TaskType": "MediaConvert", "EventSourceId": key,
                "TaskId": task.task_id, "Status": task.raw_status, "Code": task.code,
                "Message": "", "Sources": [{"URI": task.object_path}]}  # fmt: skip
        yield Inbound(task, cloud_event_body(task, data), at)
    stat = Statistic(submit_success=done, submit_failure=0, skip_files=0)
    batch = ImmBatchEvent(
        event_id=f"{key}-b", source="acs.imm", type="imm:Batch:Notification",
        time=start + tasks * step, ingress="eventbridge", project="bench",
        batch_key=key, status="running" if running else "succeeded",
        raw_status="Running" if running else "Succeeded", statistic=stat,
        tags={"team": "bench", "n": str(b)},
    )  # fmt: skip
    data = {"ProjectName": "bench", "Id": key, "State": batch.raw_status, "Tags": batch.tags,
            "Statistic": {"SubmitSuccess": done, "SubmitFailure": 0, "SkipFiles": 0}}  # fmt: skip
    yield Inbound(batch, cloud_event_body(batch, data), batch.time)


async def fill(
    store: Store,
    batches: int,
    tasks: int,
    step: timedelta = timedelta(seconds=1),
    deadline: float = float("inf"),
) -> tuple[int, float]:
    """Commit the batches' events through the started ``store`` (its group commit, as the
    daemon's ingress does: 20 callers of 500 events at a time) until done or ``deadline``
    (``time.monotonic()``); returns the events committed and the seconds it took."""
    started = time.perf_counter()
    events = itertools.chain.from_iterable(batch_events(b, tasks, step) for b in range(batches))
    committed = 0
    while time.monotonic() < deadline and (chunk := list(itertools.islice(events, 10_000))):
        await asyncio.gather(*(store.commit_many(chunk[i : i + 500])
                               for i in range(0, len(chunk), 500)))  # fmt: skip
        committed += len(chunk)
    return committed, time.perf_counter() - started


async def fill_sqlite(path: Path, batches: int, tasks: int) -> float:
    store = SQLiteStore(path, synchronous="NORMAL", max_group=2048)
    await store.start()
    try:
        return (await fill(store, batches, tasks))[1]
    finally:
        await store.close()


def get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
    return time.perf_counter() - started


def time_calls(base: str, calls: list[str], rounds: int) -> dict[str, list[float]]:
    """Each call's time in every round, the calls one after another within a round."""
    times: dict[str, list[float]] = {path: [] for path in calls}
    for _ in range(rounds):
        for path in calls:
            times[path].append(get(base + path))
    return times


def http_page(base: str, calls: list[str], rounds: int) -> tuple[float, dict[str, float]]:
    """Median over rounds of the shell + its API calls, one after another, and each
    call's median."""
    times = time_calls(base, calls, rounds)
    totals = [sum(round_) for round_ in zip(*times.values(), strict=True)]
    return statistics.median(totals), {p: statistics.median(t) for p, t in times.items()}


def batch_page_calls(key: str) -> list[str]:
    """What the batch page of ``key`` loads: its shell, scripts and API calls."""
    return [
        f"/batches/{key}",
        "/static/dashboard/batch.js",
        "/static/dashboard/chart.js",
        "/static/dashboard/overview.js",
        "/api/v1/overview",
        f"/api/v1/batches/{key}",
        f"/api/v1/batches/{key}/failures",
        f"/api/v1/batches/{key}/history?max_points=200",
        f"/api/v1/batches/{key}/tasks?max_results=50",
        f"/api/v1/batches/{key}/events?max_results=25",
        f"/api/v1/deliveries?batch_key={key}&max_results=50",
        f"/api/v1/alerts?batch_key={key}",
    ]


def report_page(name: str, measured: tuple[float, dict[str, float]]) -> None:
    total, calls = measured
    report(name, total)
    for path, seconds in calls.items():
        if path.startswith("/api/"):
            verdict = "within" if seconds <= CALL_BUDGET else "OVER"
            budget = f"{verdict} {CALL_BUDGET * 1000:.0f} ms"
            print(f"    {path[:60]:<60} {seconds * 1000:8.1f} ms  ({budget})")


def browser_page(base: str, path: str, ready: str, rounds: int) -> tuple[float, float] | None:
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.http.dashboard.browser import CHROMIUM_ARGS

    loads, readies = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(rounds):
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(base + path, wait_until="load")
            loads.append(time.perf_counter() - started)
            page.wait_for_selector(ready)
            readies.append(time.perf_counter() - started)
            page.close()
        browser.close()
    return statistics.median(loads), statistics.median(readies)


def report(name: str, seconds: float) -> None:
    verdict = "within" if seconds <= BUDGET else "OVER"
    print(f"  {name:<44} {seconds * 1000:8.1f} ms  ({seconds / BUDGET:5.1%} of budget, {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", help="keep the filled store here (reused when it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = Path(args.db) if args.db else folder / "relay.db"
        if not db.exists():
            took = asyncio.run(fill_sqlite(db, args.batches, args.tasks))
            tasks = args.batches * args.tasks
            print(f"filled {args.batches} batches, {tasks} tasks in {took:.1f}s")
        else:
            print(f"reusing {db}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = folder / "config.yaml"
        config.write_text(yaml.safe_dump({
            "server": {"host": "127.0.0.1", "port": port},
            "store": {"url": f"sqlite:///{db}", "synchronous": "NORMAL"},
            "log": {"level": "warning", "format": "json"},
        }))  # fmt: skip
        key = "batch-00000"
        running = "&".join(f"batch_key=batch-{b:05d}" for b in range(0, 500, 10))
        batches_calls = ["/", "/static/dashboard/batches.js", "/static/dashboard/common.js",
                         "/static/dashboard/overview.js", "/static/dashboard/app.css",
                         "/api/v1/overview", "/api/v1/batches?MaxResults=50",
                         f"/api/v1/activity?{running}"]  # fmt: skip
        batch_calls = [
            *batch_page_calls(key),
            # the task search: a rare name, and one a tenth of the tasks match
            f"/api/v1/batches/{key}/tasks?max_results=50&search=clip-01234",
            f"/api/v1/batches/{key}/tasks?max_results=50&search=7.mov",
        ]
        with child(["-m", "batchrelay", "run", "-c", str(config)], f"{base}/readyz",
                   folder / "daemon.log"):  # fmt: skip
            for path in batches_calls + batch_calls:  # warm: caches, page cache, imports
                with contextlib.suppress(OSError):
                    get(base + path)
            print(f"HTTP, median of {args.rounds} (shell + API calls, sequential):")
            report_page("batches page (50 rows)", http_page(base, batches_calls, args.rounds))
            report_page("batch page", http_page(base, batch_calls, args.rounds))
            print("Chromium (load event / table filled):")
            for name, path, ready in (
                ("batches page", "/", "#batches tbody tr"),
                ("batch page", f"/batches/{key}", "#task-table tbody tr"),
            ):
                measured = browser_page(base, path, ready, args.rounds)
                if measured is None:
                    print(f"  {name}: skipped, no {CHROMIUM}")
                    continue
                report(f"{name}: load event", measured[0])
                report(f"{name}: table filled", measured[1])
            print("Export (not a page; no budget):")
            took = get(f"{base}/api/v1/batches/{key}/tasks/export?format=csv")
            print(f"  CSV of {args.tasks:,} tasks                          {took * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

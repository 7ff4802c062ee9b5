"""Delivery rate: notifications to a local webhook sink from batchrelay, from a bare aiohttp
client (the limit) and from Apprise.

The sink is a bare aiohttp child process (bench/bare_server.py --count) that answers 200
and counts: every sender is timed there, from the first request received to the last.

* batchrelay: the daemon (``batchrelay run``, a child process) started with N committed
  events in its store, each its own notification group, routed to one webhook receiver
  with ``max_in_flight`` = the concurrency: outbox, dispatcher, rendering, the send, and a
  durable record of every attempt (SQLite, synchronous=FULL);
* bare aiohttp client: one keep-alive session posting N copies of the body batchrelay
  sent, the same number at a time: what one HTTP client in one Python process can do,
  the limit for a sender that does nothing else;
* Apprise ``json://``: N notifies, the same number at a time, no retries or records.
  Installed only for this benchmark (``make bench`` does it).

    python bench/deliver.py [--notifications 10000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import apprise
from _common import CpuPressure, child, free_port, machine_load
from ingest import cloud_event


def stats(sink: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{sink}/stats", timeout=10) as resp:
        result: dict[str, float] = json.load(resp)
        return result


def reset(sink: str) -> None:
    request = urllib.request.Request(f"{sink}/stats", method="DELETE")
    urllib.request.urlopen(request, timeout=10).close()


def wait_for(sink: str, count: int, timeout: float = 300) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while (seen := stats(sink))["requests"] < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sink got {seen['requests']:.0f} of {count} in {timeout}s")
        time.sleep(0.05)
    return seen


def daemon_config(folder: Path, hook: str, concurrency: int, tick: float) -> tuple[Path, int]:
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "store": {"url": f"sqlite:///{folder}/deliver.db", "synchronous": "FULL"},
        "log": {"level": "info", "format": "json"},
        "receivers": {"sink": {"type": "webhook", "url": hook}},
        # every event its own group, sent by the dispatcher's first pass after it
        "routing": {"route": {"receiver": "sink", "group_by": ["..."], "group_wait": "1ms"}},
        # a pass sends what is due, then waits this long
        "delivery": {"tick": tick, "max_in_flight": concurrency},
        # nothing but the events' own notifications reaches the sink
        "alerts": {"rules": [], "digest": {"enabled": False}},
    }
    path = folder / f"deliver-{tick:g}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path, port


async def post_events(url: str, count: int, clients: int = 32) -> None:
    headers = {"Content-Type": "application/cloudevents+json"}
    remaining = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def worker() -> None:
            for _ in remaining:
                body = cloud_event("deliver")
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    resp.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(clients)))


@contextlib.contextmanager
def daemon_with_outbox(folder: Path, sink: str, count: int, concurrency: int) -> Iterator[None]:
    """The daemon, started with ``count`` notifications already in its outbox: a first
    daemon, whose dispatcher makes one pass at start and then waits a minute, takes the
    events over HTTP (each committed and routed), then stops; the measured one, on the
    same database, passes back to back (10 ms between passes)."""
    hook = f"{sink}/hook"
    config, port = daemon_config(folder, hook, concurrency, tick=60)
    argv = ["-m", "batchrelay", "run", "-c", str(config)]
    base = f"http://127.0.0.1:{port}"
    with child(argv, f"{base}/readyz", folder / "fill.log"):
        started = time.monotonic()
        asyncio.run(post_events(f"{base}/ingest/eventbridge", count))
        assert time.monotonic() - started < 50, "took too long: the first daemon sent some"
    assert stats(sink)["requests"] == 0, "the first daemon sent some"
    config, port = daemon_config(folder, hook, concurrency, tick=0.01)
    argv = ["-m", "batchrelay", "run", "-c", str(config)]
    with child(argv, f"http://127.0.0.1:{port}/readyz", folder / "relay.log"):
        yield


async def bare_client(hook: str, body: bytes, count: int, concurrency: int) -> None:
    headers = {"Content-Type": "application/json"}
    remaining = iter(range(count))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for _ in remaining:
                async with session.post(hook, data=body, headers=headers) as resp:
                    await resp.read()
                    resp.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def through_apprise(hook: str, count: int, concurrency: int) -> None:
    notify = apprise.Apprise()
    notify.add(hook.replace("http://", "json://"))
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            ok = await notify.async_notify(title=f"batch-{n % 20}", body=f"task {n} failed")
            assert ok, "Apprise could not deliver"

    await asyncio.gather(*(one(n) for n in range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    n, concurrency = args.notifications, args.concurrency
    port = free_port()
    sink, hook = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/hook"
    results: dict[str, dict[str, float]] = {}
    before = machine_load()
    with (
        tempfile.TemporaryDirectory() as tmp,
        CpuPressure("during the run (senders, sink, others' work)") as during,
    ):
        folder = Path(tmp)
        argv = ["bench/bare_server.py", str(port), "200", "--count"]
        with child(argv, f"{sink}/healthz", folder / "sink.log"):
            with daemon_with_outbox(folder, sink, n, concurrency):
                results["batchrelay"] = wait_for(sink, n)
            # the bare client posts what batchrelay sent: the same bytes per notification
            with urllib.request.urlopen(f"{sink}/last", timeout=10) as resp:
                body = resp.read()
            reset(sink)
            asyncio.run(bare_client(hook, body, n, concurrency))
            results["bare"] = wait_for(sink, n)
            reset(sink)
            asyncio.run(through_apprise(hook, n, concurrency))
            results["apprise"] = wait_for(sink, n)
    print(f"deliver: {n} notifications to a local webhook sink, {concurrency} at a time;")
    print("timed at the sink, from the first request received to the last")
    print(f"{'sender':<58} | seconds | notifications/s | bytes each")
    labels = {
        "bare": "bare aiohttp client (the limit: posts, nothing else)",
        "batchrelay": "batchrelay (outbox, dispatcher, durable attempt records)",
        "apprise": "Apprise json:// (no retries or records)",
    }
    rate = {}
    for name, label in labels.items():
        seen = results[name]
        seconds = seen["last"] - seen["first"]
        rate[name] = (seen["requests"] - 1) / seconds if seconds else float("nan")
        print(
            f"{label:<58} | {seconds:7.2f} | {rate[name]:15.0f} | "
            f"{seen['bytes'] / seen['requests']:10.0f}"
        )
    print(f"batchrelay / bare aiohttp client: {rate['batchrelay'] / rate['bare']:.2f} of the limit")
    print(f"batchrelay / Apprise: {rate['batchrelay'] / rate['apprise']:.1f}x")
    print(before)
    print(during)


if __name__ == "__main__":
    main()

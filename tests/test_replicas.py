"""Several replicas on one PostgreSQL, and PostgreSQL going away for a while.

Real child processes: three daemons sharing one throwaway PostgreSQL cluster and one
emulator queue, HTTP pushes spread over them, a webhook sink on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from batchrelay.simulate import encode

from .fakes import WebhookSink, running_sink
from .pg import Cluster, running_postgres
from .processes import Child, children, free_port, wait_ready, write_config
from .test_crash import assert_ledger, fetch_batches, fill_queue, queue_depth, traffic

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

QUEUE = "imm-notify"
FAILURES_RULE = {"name": "task-failures", "condition": "tasks_failed >= 3",
                 "repeat_interval": "1h", "receiver": "hook"}  # fmt: skip


@pytest.fixture
async def sink() -> AsyncIterator[tuple[WebhookSink, str]]:
    async with running_sink(WebhookSink(delay=0.05)) as running:
        yield running, running.url


@pytest.fixture
async def postgres() -> AsyncIterator[Cluster]:
    with running_postgres() as cluster:
        yield cluster


def replica_config(folder: Path, port: int, dsn: str, endpoint: str, hook: str | None) -> Path:
    """A replica: the shared database and queue; with ``hook``, every event is routed there
    grouped by batch, and a "task-failures" alert too."""
    folder.mkdir(exist_ok=True)
    source = {"endpoint": endpoint, "queue": QUEUE, "access_key_id": DEFAULT_ACCESS_KEY_ID,
              "access_key_secret": DEFAULT_ACCESS_KEY_SECRET, "pollers": 2, "wait_seconds": 1,
              "extend_after": 2.0, "visibility_timeout": 5}  # fmt: skip
    sections: dict[str, Any] = {
        "store": {"url": dsn, "lease": 3, "pool_max_size": 6},
        "sources": {"mns_queues": [source]},
    }
    if hook is not None:
        sections |= {
            "receivers": {"hook": {"type": "webhook", "url": hook, "timeout": 5, "retry": {
                "max_attempts": 100, "max_age": 600, "initial_delay": 0.2, "max_delay": 1}}},
            "routing": {"route": {"receiver": "hook", "group_by": ["batch_key"],
                                  "group_wait": "1s", "group_interval": "1s"}},
            "alerts": {"evaluation_interval": "2s", "rules": [FAILURES_RULE]},
            "delivery": {"tick": 0.2, "lease": 5},
        }  # fmt: skip
    return write_config(folder, port, **sections)


async def push_all(bases: list[str], live: set[str], bodies: list[bytes]) -> None:
    """Each body until one replica answers 2xx, spreading bodies over the live ones."""
    turn = itertools.count()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def one(body: bytes) -> None:
            while True:
                alive = [b for b in bases if b in live]
                base = alive[next(turn) % len(alive)]
                try:
                    async with session.post(f"{base}/ingest/eventbridge", data=body) as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.05)

        for start in range(0, len(bodies), 32):
            await asyncio.gather(*(one(b) for b in bodies[start : start + 32]))


async def metric(base: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


async def test_three_replicas_one_killed_lose_nothing_and_repeat_nothing(
    tmp_path: Path, postgres: Cluster, sink: tuple[WebhookSink, str]
) -> None:
    recorder, hook = sink
    sent = traffic("mixed", batches=30, tasks=400, seed=21)
    assert len(sent.events) >= 20_000
    # about half through the queue (every ICE event: it has no EventBridge form), half pushed
    to_queue = [e.service == "ice" or i % 2 == 0 for i, e in enumerate(sent.events)]
    queued = [encode(e, "mns") for e, q in zip(sent.events, to_queue, strict=True) if q]
    pushed = [encode(e, "eventbridge") for e, q in zip(sent.events, to_queue, strict=True) if not q]
    dsn = await postgres.create_database("replicas")
    mns_port = free_port()
    endpoint = f"http://127.0.0.1:{mns_port}"
    emulator = Child(["emulator", "--port", str(mns_port), "--log-level", "warning"],
                     tmp_path / "emulator.log")  # fmt: skip
    ports = [free_port() for _ in range(3)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    replicas = [
        Child(["run", "-c", str(replica_config(tmp_path / f"r{i}", p, dsn, endpoint, hook))],
              tmp_path / f"r{i}.log")
        for i, p in enumerate(ports)
    ]  # fmt: skip
    with children(emulator, *replicas):
        emulator.start()
        await wait_ready(f"{endpoint}/x509_public_certificate.pem")
        await asyncio.to_thread(fill_queue, endpoint, QUEUE, queued)
        for replica in replicas:
            replica.start()
        for base in bases:
            await wait_ready(f"{base}/readyz")
        live = set(bases)
        pushing = asyncio.create_task(push_all(bases, live, pushed))
        async with asyncio.timeout(120):  # mid-run: a third of the queue and some sends done
            while (await asyncio.to_thread(queue_depth, endpoint, QUEUE) > len(queued) * 2 // 3
                   or not recorder.requests):  # fmt: skip
                await asyncio.sleep(0.1)
        holders = [b for b in bases if await metric(b, "batchrelay_coordinator ") == 1.0]
        assert len(holders) == 1, holders  # one replica runs the timers
        victim = bases.index(holders[0])
        live.discard(bases[victim])
        replicas[victim].kill()  # the sender dies with deliveries in flight
        await pushing
        survivors = [b for b in bases if b in live]
        async with asyncio.timeout(180):
            while await asyncio.to_thread(queue_depth, endpoint, QUEUE) > 0:
                await asyncio.sleep(0.2)
        batches = await fetch_batches(survivors[0])
        assert_ledger(batches, sent)
        journaled = sum(b["events"] for b in batches.values())
        async with asyncio.timeout(180):  # another replica takes the timers over and sends
            while len(recorder.owners()) < journaled:
                await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # time for any wrong extra send to show up
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{survivors[0]}/api/v1/alerts") as resp,
        ):
            alerts_api = await resp.json()
    owners = recorder.owners()
    # every event was notified, each under exactly one idempotency key (repeats reuse it)
    notified = {e for e in owners if not e.startswith(("alert:", "digest:"))}
    assert len(notified) == journaled
    assert all(len(ids) == 1 for ids in owners.values())
    # no alert was notified twice: one firing notice per alert, whatever replica sent it
    firing = [(a["alertname"], a["batch_key"]) for notices in recorder.alerts.values()
              for a in notices if a["notice"] == "firing"]  # fmt: skip
    assert len(firing) == len(set(firing))
    failed = {(a["rule"], a["batch_key"]) for a in alerts_api["alerts"] if a["fired_at"]}
    assert set(firing) == failed
    assert len(failed) >= 10  # most batches have failing tasks


async def test_postgres_outage_is_waited_out_and_nothing_is_lost(
    tmp_path: Path, postgres: Cluster
) -> None:
    sent = traffic("imm-batch", batches=6, tasks=400, seed=8)
    third = len(sent.events) // 3
    queued = [encode(e, "mns") for e in sent.events[:third]]
    pushed = [encode(e, "eventbridge") for e in sent.events[third:]]
    dsn = await postgres.create_database("outage")
    mns_port, port = free_port(), free_port()
    endpoint, base = f"http://127.0.0.1:{mns_port}", f"http://127.0.0.1:{port}"
    emulator = Child(["emulator", "--port", str(mns_port), "--log-level", "warning"],
                     tmp_path / "emulator.log")  # fmt: skip
    config = replica_config(tmp_path / "r", port, dsn, endpoint, None)
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    with children(emulator, daemon):
        emulator.start()
        await wait_ready(f"{endpoint}/x509_public_certificate.pem")
        daemon.start()
        await wait_ready(f"{base}/readyz")
        live = {base}
        await push_all([base], live, pushed[: len(pushed) // 2])
        await asyncio.to_thread(postgres.stop, "immediate")
        await asyncio.to_thread(fill_queue, endpoint, QUEUE, queued)  # arrives while it is down
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + 20
            refused = 0
            while asyncio.get_running_loop().time() < deadline:
                async with session.get(f"{base}/readyz") as resp:
                    assert resp.status == 503
                    assert (await resp.json())["status"] == "not_ready"
                async with session.post(f"{base}/ingest/eventbridge", data=pushed[-1]) as resp:
                    assert resp.status == 503  # not committed, so not acknowledged
                    refused += 1
                depth = await asyncio.to_thread(queue_depth, endpoint, QUEUE)
                assert depth == len(queued)  # received, maybe, but never deleted
                await asyncio.sleep(1)
            assert refused >= 10
        await asyncio.to_thread(postgres.start)
        await wait_ready(f"{base}/readyz", timeout=60)
        await push_all([base], live, pushed[len(pushed) // 2 :])
        async with asyncio.timeout(120):
            while await asyncio.to_thread(queue_depth, endpoint, QUEUE) > 0:
                await asyncio.sleep(0.2)
        assert_ledger(await fetch_batches(base), sent)
        assert daemon.terminate() == 0

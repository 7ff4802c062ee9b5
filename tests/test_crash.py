"""SIGKILL the daemon mid-stream, restart it: the ledger is exactly what was sent.

Real child processes, real sockets, SQLite with synchronous=FULL. The client retries
whatever got no 2xx, as EventBridge and MNS do; the journal dedups the retries.
"""

from __future__ import annotations

import asyncio
import random
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from batchrelay.simulate import SimulateOptions, encode, generate

from .ledgers import assert_recorded_json
from .processes import Child, children, free_port, wait_ready, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def traffic(kind: str, batches: int, tasks: int, seed: int) -> Any:
    options = SimulateOptions(kind=kind, batches=batches, tasks=tasks, seed=seed,
                              failure_ratio=0.1, start_time=START)  # fmt: skip
    return generate(options.spec(START))


async def fetch_batches(base: str) -> dict[str, dict[str, Any]]:
    batches: dict[str, dict[str, Any]] = {}
    token = ""
    async with aiohttp.ClientSession() as session:
        while True:
            url = f"{base}/api/v1/batches?MaxResults=100&NextToken={token}"
            async with session.get(url) as resp:
                page = await resp.json()
            batches.update({b["batch_key"]: b for b in page["batches"]})
            token = page["next_token"]
            if not token:
                return batches


def assert_ledger(recorded: dict[str, dict[str, Any]], sent: Any) -> None:
    expected = sent.ledger_json()["batches"]
    assert sorted(recorded) == sorted(expected)
    for key, batch in expected.items():
        assert_recorded_json(recorded[key], batch)


async def post_until_accepted(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    """POST until a 2xx, as a pusher would; returns the attempts it took."""
    for attempt in range(1, 10_000):
        try:
            async with session.post(url, data=body) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return attempt
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(min(0.5, 0.01 * attempt))
    raise AssertionError("never accepted")


async def test_sigkill_during_http_stream_loses_nothing(tmp_path: Path) -> None:
    sent = traffic("imm-batch", batches=10, tasks=250, seed=21)
    bodies = [encode(event, "eventbridge") for event in sent.events]
    random.Random(4).shuffle(bodies)  # arrival order must not matter either
    assert len(bodies) >= 5000
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Child(["run", "-c", str(write_config(tmp_path, port))], tmp_path / "daemon.log")
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        accepted = 0
        retried = 0

        async def client(session: aiohttp.ClientSession) -> None:
            nonlocal accepted, retried
            while not queue.empty():
                attempts = await post_until_accepted(session, f"{base}/ingest/eventbridge",
                                                     queue.get_nowait())  # fmt: skip
                accepted += 1
                retried += attempts - 1

        async def crash_and_restart() -> None:
            while accepted < len(bodies) // 3:
                await asyncio.sleep(0.01)
            daemon.kill()
            await asyncio.sleep(0.5)
            daemon.start()

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(crash_and_restart(), *(client(session) for _ in range(16)))
        assert accepted == len(bodies)
        assert retried > 0  # the crash really interrupted the stream
        await wait_ready(f"{base}/readyz")
        assert_ledger(await fetch_batches(base), sent)
        assert daemon.terminate() == 0  # SIGTERM drains and exits 0


def with_retries(call: Any, *args: Any) -> Any:
    """The emulator's 5xx knob hits the test's own calls too: retry those."""
    for _ in range(50):
        try:
            return call(*args)
        except MNSServerException as exc:
            if exc.type != "InternalError":
                raise
    raise AssertionError("the emulator kept failing")


def fill_queue(endpoint: str, queue_name: str, bodies: list[bytes]) -> None:
    """What IMM does: plain JSON bodies written to the queue (blocking SDK calls)."""
    account = Account(endpoint, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    queue = account.get_queue(queue_name)
    queue.set_encoding(False)
    with_retries(queue.create, QueueMeta(vis_timeout=3))
    for start in range(0, len(bodies), 16):
        chunk = [Message(b.decode()) for b in bodies[start : start + 16]]
        with_retries(queue.batch_send_message, chunk)
    queue.mns_client.http.conn.close()


def queue_depth(endpoint: str, queue_name: str) -> int:
    account = Account(endpoint, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    queue = account.get_queue(queue_name)
    attrs = with_retries(queue.get_attributes)
    queue.mns_client.http.conn.close()
    with warnings.catch_warnings():  # the SDK marks these counters deprecated, yet serves them
        warnings.simplefilter("ignore", DeprecationWarning)
        return int(attrs.active_messages) + int(attrs.inactive_messages) + int(attrs.delay_messages)


async def duplicates_seen(base: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("batchrelay_duplicates_total{"))  # fmt: skip


async def test_sigkill_while_consuming_an_mns_queue(tmp_path: Path) -> None:
    sent = traffic("mixed", batches=20, tasks=340, seed=33)
    bodies = [encode(event, "mns") for event in sent.events]
    assert len(bodies) >= 10_000
    mns_port, port = free_port(), free_port()
    endpoint, base = f"http://127.0.0.1:{mns_port}", f"http://127.0.0.1:{port}"
    # Faults on: some deliveries twice, some deletes lost, some requests answered 500.
    faults = ["--duplicate-ratio", "0.02", "--lost-delete-ratio", "0.02", "--error-ratio", "0.02"]
    emulator = Child(["emulator", "--port", str(mns_port), "--log-level", "warning", "--seed", "5",
                      *faults], tmp_path / "emulator.log")  # fmt: skip
    source = {"endpoint": endpoint, "queue": "imm-notify", "access_key_id": DEFAULT_ACCESS_KEY_ID,
              "access_key_secret": DEFAULT_ACCESS_KEY_SECRET, "pollers": 4, "wait_seconds": 1,
              "extend_after": 1.0, "visibility_timeout": 3}  # fmt: skip
    config = write_config(tmp_path, port, sources={"mns_queues": [source]})
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    with children(daemon, emulator):
        emulator.start()
        await wait_ready(f"{endpoint}/x509_public_certificate.pem")
        await asyncio.to_thread(fill_queue, endpoint, "imm-notify", bodies)
        daemon.start()
        await wait_ready(f"{base}/readyz")
        async with asyncio.timeout(120):
            while (
                await asyncio.to_thread(queue_depth, endpoint, "imm-notify") > len(bodies) * 2 // 3
            ):
                await asyncio.sleep(0.05)
        daemon.kill()
        daemon.start()
        await wait_ready(f"{base}/readyz")
        async with asyncio.timeout(180):
            while await asyncio.to_thread(queue_depth, endpoint, "imm-notify") > 0:
                await asyncio.sleep(0.2)
        assert_ledger(await fetch_batches(base), sent)
        # Redeliveries show in the duplicates metric, never in the ledger.
        assert await duplicates_seen(base) > 0
        assert daemon.terminate() == 0


async def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path: Path) -> None:
    sent = traffic("imm-batch", batches=4, tasks=250, seed=5)
    bodies = [encode(event, "eventbridge") for event in sent.events]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Child(["run", "-c", str(write_config(tmp_path, port))], tmp_path / "daemon.log")
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        accepted = 0
        refused = 0

        async def client(session: aiohttp.ClientSession, mine: list[bytes]) -> None:
            nonlocal accepted, refused
            for body in mine:
                try:
                    async with session.post(f"{base}/ingest/eventbridge", data=body) as resp:
                        await resp.read()
                        accepted += resp.status == 200
                        refused += resp.status == 503
                except (aiohttp.ClientError, OSError):
                    return  # the listener is gone: this client stops, as a pusher would retry

        async def terminate_midway() -> int:
            while accepted < len(bodies) // 4:
                await asyncio.sleep(0.005)
            return await asyncio.to_thread(daemon.terminate)

        async with aiohttp.ClientSession() as session:
            shares = [bodies[n::32] for n in range(32)]
            code, *_ = await asyncio.gather(
                terminate_midway(), *(client(session, s) for s in shares)
            )
        assert code == 0
        assert 0 < accepted < len(bodies)
        daemon.start()
        await wait_ready(f"{base}/readyz")
        journaled = sum(b["events"] for b in (await fetch_batches(base)).values())
        assert journaled >= accepted  # every 2xx answer was durable

"""Subscriptions across daemon processes: a SIGKILL mid-stream loses no delivery and a
repeat keeps its id; three replicas on one PostgreSQL serve a subscription made on one,
and deliver each event once per subscription (one idempotency id)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes import running_sink
from tests.pg import Cluster, running_postgres
from tests.processes import Child, children, free_port, wait_ready, write_config
from tests.test_replicas import push_all

from .support import AUTH, LOCAL, TOKEN, Subscriber, create, failed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECTIONS: dict[str, Any] = {
    "api": {"token": TOKEN},
    "subscriptions": LOCAL
    | {"retry": {"initial_delay": 0.1, "max_delay": 1, "max_attempts": 1000, "max_age": 600}},
    "delivery": {"tick": 0.05, "lease": 3},
    "log": {"level": "info", "format": "json"},
}


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    async with running_sink(Subscriber(delay=0.01)) as sub:
        yield sub


def daemon(folder: Path, port: int, **more: Any) -> Child:
    folder.mkdir(exist_ok=True)
    config = write_config(folder, port, **(SECTIONS | more))
    return Child(["run", "-c", str(config)], folder / "daemon.log")


async def test_a_sigkill_mid_stream_loses_nothing_and_repeats_keep_their_ids(
    tmp_path: Path, subscriber: Subscriber
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    relay = daemon(tmp_path, port)
    bodies = [failed(n, f"b-{n % 7}") for n in range(300)]
    with children(relay):
        relay.start()
        await wait_ready(f"{base}/readyz")
        created = await create(base, {"url": subscriber.url, "filter": {"status": ["failed"]}})
        subscriber.secrets.append(created["secret"])
        live = {base}
        pushing = asyncio.create_task(push_all([base], live, bodies))
        async with asyncio.timeout(60):
            while len(subscriber.received) < 40:
                await asyncio.sleep(0.01)
        relay.kill()  # deliveries in flight, pushes half done
        relay.start()
        await wait_ready(f"{base}/readyz")
        await pushing  # each push is repeated until the daemon answers 200
        async with asyncio.timeout(120):
            while len(subscriber.ids_by_event()) < len(bodies):
                await asyncio.sleep(0.1)
    by_event = subscriber.ids_by_event()
    assert sorted(by_event, key=str) == sorted((f"e{n}" for n in range(300)), key=str)
    assert all(len(ids) == 1 for ids in by_event.values()), by_event  # repeats keep their id
    assert subscriber.unverified == 0


@pytest.fixture
async def postgres() -> AsyncIterator[Cluster]:
    with running_postgres() as cluster:
        yield cluster


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url, headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_three_replicas_serve_one_subscription_once_per_event(
    tmp_path: Path, postgres: Cluster, subscriber: Subscriber
) -> None:
    dsn = await postgres.create_database("subscriptions")
    ports = [free_port() for _ in range(3)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    store = {"url": dsn, "lease": 3, "pool_max_size": 4}
    replicas = [daemon(tmp_path / f"r{i}", p, store=store) for i, p in enumerate(ports)]
    bodies = [failed(n, f"b-{n % 5}") for n in range(240)]
    with children(*replicas):
        for replica in replicas:
            replica.start()
        for base in bases:
            await wait_ready(f"{base}/readyz")
        created = await create(bases[0], {"url": subscriber.url})
        subscriber.secrets.append(created["secret"])
        for base in bases[1:]:  # made on one, served by all
            shown = await get_json(f"{base}/api/v1/subscriptions/{created['id']}")
            assert shown["url"] == subscriber.url
        await push_all(bases, set(bases), bodies)
        async with asyncio.timeout(120):
            while len(subscriber.ids_by_event()) < len(bodies):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # nothing more comes
        log = await get_json(f"{bases[2]}/api/v1/subscriptions/{created['id']}/deliveries")
    by_event = subscriber.ids_by_event()
    assert len(by_event) == len(bodies)
    assert all(len(ids) == 1 for ids in by_event.values())
    assert len(subscriber.received) == len(bodies)  # no replica sent one twice
    assert log["deliveries"] and all(d["state"] == "delivered" for d in log["deliveries"])

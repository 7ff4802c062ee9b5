"""Delivery under faults, end to end: a daemon process, a flaky webhook sink, a SIGKILL.

The sink answers 30% 500s, 10% too slowly (the receiver times out) and some 429s with
Retry-After. Every notification must arrive at least once, a repeat must carry the same
webhook-id, no retry may come before its Retry-After, and the daemon is SIGKILLed midway.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.http.test_batches import TASK_SAMPLE

from .processes import Child, children, free_port, wait_ready, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RETRY_AFTER = 2.0


@dataclass
class FlakySink:
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    requests: list[tuple[float, str, int]] = field(default_factory=list)  # (at, id, status)
    delivered: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    healthy: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        webhook_id = request.headers["webhook-id"]
        roll = self.rng.random()
        status = 200
        if not self.healthy and roll < 0.3:
            status = 500
        elif not self.healthy and roll < 0.4:
            await asyncio.sleep(2.0)  # longer than the receiver's timeout
            status = 599  # never seen by the sender
        elif not self.healthy and roll < 0.5:
            status = 429
        self.requests.append((time.monotonic(), webhook_id, status))
        if status == 429:
            return web.Response(status=429, headers={"Retry-After": str(int(RETRY_AFTER))})
        if status != 200:
            return web.Response(status=500)
        events = json.loads(body)["events"]
        self.delivered[webhook_id] |= {e["event_id"] for e in events}
        return web.Response(status=200)

    def event_ids(self) -> set[str]:
        return set().union(*self.delivered.values()) if self.delivered else set()


def cloud_event(n: int) -> bytes:
    data = dict(
        TASK_SAMPLE["data"],
        TaskId=f"OfficeConversion-{n}",
        Status="Failed",
        EventSourceId=f"batch-{n % 7}",
        Sources=[{"URI": f"oss://in/{n}.docx"}],
    )
    return json.dumps(dict(TASK_SAMPLE, id=f"fault-{n}", data=data)).encode()


async def test_flaky_sink_and_a_sigkill_lose_no_notification(tmp_path: Path) -> None:
    sink = FlakySink()
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path, port,
        receivers={"hook": {
            "type": "webhook", "url": str(server.make_url("/hook")), "timeout": 1,
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "retry": {"max_attempts": 100, "max_age": 600, "initial_delay": 0.2, "max_delay": 1},
            "breaker": {"failures": 1000}}},
        routing={"route": {"receiver": "hook", "group_by": ["..."], "group_wait": "100ms"}},
        delivery={"tick": 0.1, "lease": 3},
    )  # fmt: skip
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    sent = {f"fault-{n}" for n in range(200)}
    try:
        with children(daemon):
            daemon.start()
            await wait_ready(f"{base}/readyz")
            async with aiohttp.ClientSession() as session:
                for n in range(200):
                    async with session.post(f"{base}/ingest/eventbridge", data=cloud_event(n)) as r:
                        assert r.status == 200
            async with asyncio.timeout(60):
                while len(sink.event_ids()) < 60:
                    await asyncio.sleep(0.05)
            daemon.kill()  # mid-run: deliveries in flight and still pending
            daemon.start()
            await wait_ready(f"{base}/readyz")
            async with asyncio.timeout(150):
                while sink.event_ids() != sent:
                    await asyncio.sleep(0.2)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{base}/api/v1/deadletters") as resp,
            ):
                assert (await resp.json())["deliveries"] == []  # max_age not reached
    finally:
        await server.close()
    by_id: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for at, webhook_id, status in sink.requests:
        by_id[webhook_id].append((at, status))
    for attempts in by_id.values():
        for (at, status), (next_at, _) in itertools.pairwise(attempts):
            if status == 429:
                assert next_at - at >= RETRY_AFTER - 0.05  # never before its Retry-After
    # One webhook-id per notification; a repeat carries the same id and the same events.
    owners: dict[str, str] = {}
    for webhook_id, events in sink.delivered.items():
        for event_id in events:
            assert owners.setdefault(event_id, webhook_id) == webhook_id
    assert any(status in (500, 429, 599) for _, _, status in sink.requests)


async def test_dead_letters_only_past_max_age_then_replay(tmp_path: Path) -> None:
    sink = FlakySink()
    failing = True

    async def handle(request: web.Request) -> web.Response:
        if failing:
            return web.Response(status=500)
        return await sink.handle(request)

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path, port, api={"token": "t0ken-for-tests"},
        receivers={"hook": {"type": "webhook", "url": str(server.make_url("/hook")),
                            "retry": {"max_attempts": 1000, "max_age": 4, "initial_delay": 0.2,
                                      "max_delay": 0.5}, "breaker": {"failures": 1000}}},
        routing={"route": {"receiver": "hook", "group_wait": "100ms"}},
        delivery={"tick": 0.1},
    )  # fmt: skip
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    try:
        with children(daemon):
            daemon.start()
            await wait_ready(f"{base}/readyz")
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{base}/ingest/eventbridge", data=cloud_event(1)) as r:
                    assert r.status == 200
                started = time.monotonic()
                dead: list[Any] = []
                async with asyncio.timeout(30):
                    while not dead:
                        async with session.get(f"{base}/api/v1/deadletters") as resp:
                            dead = (await resp.json())["deliveries"]
                        if not dead:
                            assert time.monotonic() - started < 30
                            await asyncio.sleep(0.2)
                assert time.monotonic() - started >= 4  # not before max_age
                [letter] = dead
                assert letter["last_reason"] == "server_error" and letter["attempts"] > 3
                replay = f"{base}/api/v1/deadletters/{letter['id']}/replay"
                async with session.post(replay) as resp:
                    assert resp.status == 401
                failing = False
                headers = {"Authorization": "Bearer t0ken-for-tests"}
                async with session.post(replay, headers=headers) as resp:
                    assert resp.status == 202
                async with asyncio.timeout(10):
                    while "fault-1" not in sink.event_ids():
                        await asyncio.sleep(0.1)
                assert letter["id"] in sink.delivered  # the same id as the dead letter
    finally:
        await server.close()

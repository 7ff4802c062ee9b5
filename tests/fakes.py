"""Fakes shared by every test that needs one: a clock, a recording notifier and a local
webhook sink. Real parts everywhere else; these stand in only below the boundary."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer

from batchrelay.notifiers.base import Notification

EPOCH = 1_795_000_000.0  # a moment in 2026, in epoch seconds


class FakeClock:
    """Time that moves only when told (``advance``) or when someone sleeps on it.

    Call it for the time (``clock()``, like ``time.time``); ``monotonic`` is the same
    time; ``sleep`` records how long and moves the time on instead of waiting."""

    def __init__(self, now: float = EPOCH) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still yield, as a real sleep would


@dataclass
class RecordingNotifier:
    """A receiver that records what it is sent (with the clock's time less ``origin``),
    failing as scripted: each send first raises the next of ``failures``, if any."""

    name: str = "hook"
    kind: str = "webhook"
    clock: Callable[[], float] = lambda: 0.0
    origin: float = 0.0
    failures: list[Exception] = field(default_factory=list)
    sent: list[tuple[float, Notification]] = field(default_factory=list)
    attempts: list[tuple[float, str]] = field(default_factory=list)

    async def send(self, notification: Notification) -> None:
        at = self.clock() - self.origin
        self.attempts.append((at, notification.id))
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((at, notification))

    async def close(self) -> None:
        pass

    def event_ids(self) -> list[str]:
        return [e["event_id"] for _, n in self.sent for e in n.events]


@dataclass
class WebhookSink:
    """A webhook receiver on 127.0.0.1: which events arrived under which ``webhook-id``.

    It answers 500 while ``failing``, and takes ``delay`` seconds per request (a real
    endpoint takes a moment, so sends are in flight at once)."""

    failing: bool = False
    delay: float = 0.0
    by_id: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    alerts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    notices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # the last, by id
    requests: int = 0
    attempts: int = 0  # requests answered, failed ones too
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failing:
            return web.Response(status=500)
        webhook_id = request.headers["webhook-id"]
        self.requests += 1
        for event in body["events"]:
            self.by_id[webhook_id].add(event["event_id"])
        alerts = [event for event in body["events"] if event.get("kind") == "alert"]
        if alerts:  # every alert sent under an id (a redelivery repeats them), and the last
            self.alerts[webhook_id] += alerts
            self.notices[webhook_id] = alerts
        return web.Response(status=200)

    def owners(self) -> dict[str, set[str]]:
        """event_id -> the webhook-ids it arrived under."""
        owners: dict[str, set[str]] = defaultdict(set)
        for webhook_id, events in self.by_id.items():
            for event_id in events:
                owners[event_id].add(webhook_id)
        return owners


class Endpoint(Protocol):
    """A receiving end a test serves: its handler, and the URL it gets once served."""

    url: str

    async def handle(self, request: web.Request) -> web.Response: ...


E = TypeVar("E", bound=Endpoint)


@asynccontextmanager
async def running_sink(sink: E, path: str = "/hook") -> AsyncIterator[E]:
    """``sink`` served at ``path`` on a free port of 127.0.0.1 until the block ends."""
    app = web.Application()
    app.router.add_post(path, sink.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sink.url = str(server.make_url(path))
    try:
        yield sink
    finally:
        await server.close()

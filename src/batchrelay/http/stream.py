"""Live updates: ``GET /api/v1/stream`` as Server-Sent Events, fed by polling the store.

Each stream polls ``Store.changed_batches`` about once a second with its own cursor, so it
sees commits made by any replica and survives a restart of this one: the browser's
``EventSource`` reconnects (we send ``retry:``) with ``Last-Event-ID``, which is the cursor.
Arrival times come from the replicas' clocks and a commit lands a little after its arrival,
so every poll looks ``LOOKBACK`` behind the newest arrival seen and skips batches whose
figures this stream already sent. The number of streams is bounded (503 past it), and an
idle stream gets a comment every ``keepalive`` seconds so proxies keep it open.

Events: ``batch`` (data: one ``BatchView`` as JSON) and ``hello`` (data: the server time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from batchrelay.http.common import STORE, BadQuery, error_response
from batchrelay.store.base import BatchView, Store

LOOKBACK = timedelta(seconds=5)
RETRY_MS = 2000
POLL_LIMIT = 500  # batches per poll; a longer backlog is read over the next polls
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Signature = tuple[datetime, int, datetime, str]  # last_received, events, update_time, state


def to_us(value: datetime) -> int:
    """A stream event id: microseconds since the epoch."""
    return (value - EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass
class Hub:
    """The live streams of this process: how many, how often, and the signal to end them."""

    max_clients: int = 32
    poll: float = 1.0
    keepalive: float = 15.0
    clients: int = 0
    closing: asyncio.Event = field(default_factory=asyncio.Event)


HUB: web.AppKey[Hub] = web.AppKey("dashboard_hub", Hub)


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/stream", stream)]


async def end_streams(app: web.Application) -> None:
    """On shutdown: end every stream so draining need not wait for them."""
    app[HUB].closing.set()


def _cursor(request: web.Request) -> datetime:
    raw = request.headers.get("Last-Event-ID") or request.query.get("since")
    if not raw:
        return datetime.now(UTC) - LOOKBACK
    try:
        return from_us(int(raw))
    except (ValueError, OverflowError):
        raise BadQuery("Last-Event-ID / since must be the integer id of a stream event") from None


@dataclass
class _Follower:
    """One stream's cursor and what it has sent, so a batch goes out once per change."""

    floor: datetime
    batch_key: str | None
    sent: dict[str, Signature] = field(default_factory=dict)

    async def poll(self, store: Store) -> tuple[list[BatchView], bool]:
        """Batches changed since the last poll; True when more are waiting."""
        found = await store.changed_batches(self.floor, POLL_LIMIT)
        more = len(found) == POLL_LIMIT
        fresh = [b for b in found if self._is_new(b)]
        if found:
            newest = found[-1].last_received
            self.floor = newest if more else max(self.floor, newest - LOOKBACK)
        self.sent = {k: v for k, v in self.sent.items() if v[0] >= self.floor}
        return fresh, more

    def _is_new(self, batch: BatchView) -> bool:
        if self.batch_key is not None and batch.batch_key != self.batch_key:
            return False
        signature: Signature = (batch.last_received, batch.events, batch.update_time, batch.state)
        if self.sent.get(batch.batch_key) == signature:
            return False
        self.sent[batch.batch_key] = signature
        return True


def _message(event: str, data: str, event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()


async def stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    follower = _Follower(_cursor(request), request.query.get("batch_key") or None)
    if hub.clients >= hub.max_clients:
        response = error_response(503, "busy", f"at most {hub.max_clients} live streams")
        response.headers["Retry-After"] = "5"
        return response
    hub.clients += 1
    try:
        return await _serve(request, hub, follower)
    finally:
        hub.clients -= 1


async def _serve(request: web.Request, hub: Hub, follower: _Follower) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a proxy must not buffer the stream
        }
    )
    await response.prepare(request)
    now = datetime.now(UTC)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    await response.write(_message("hello", json.dumps(now.isoformat()), to_us(follower.floor)))
    store = request.app[STORE]
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    with contextlib.suppress(ConnectionResetError):
        while not hub.closing.is_set():
            batches, more = await follower.poll(store)
            for batch in batches:
                data = batch.model_dump_json()
                await response.write(_message("batch", data, to_us(follower.floor)))
            if batches:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= hub.keepalive:
                await response.write(b": keep-alive\n\n")
                quiet_since = loop.time()
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hub.closing.wait(), hub.poll)
    return response

"""The live stream: retry hint, batch events as commits land, keep-alives, a bound on clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from batchrelay.http.stream import HUB
from tests.http.test_batches import task_event


async def read_event(resp: Any, wanted: str, timeout: float = 10) -> dict[str, str]:
    """The next SSE message whose event (or comment) is ``wanted``."""
    async with asyncio.timeout(timeout):
        fields: dict[str, str] = {}
        while True:
            line = (await resp.content.readline()).decode()
            if line in ("\n", ""):
                if fields.get("event") == wanted or (wanted in fields and len(fields) == 1):
                    return fields
                fields = {}
                continue
            name, _, value = line.rstrip("\n").partition(":")
            fields[name or ":comment"] = value.removeprefix(" ")


async def test_stream_sends_retry_then_changed_batches(daemon: Any) -> None:
    async with daemon.get("/api/v1/stream") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert await read_event(resp, "retry") == {"retry": "2000"}
        hello = await read_event(resp, "hello")
        assert int(hello["id"]) > 0
        body = task_event(1, "batch-live", "Running", "oss://in/a.docx")
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
        message = await read_event(resp, "batch")
        batch = json.loads(message["data"])
        assert batch["batch_key"] == "batch-live"
        assert batch["task_counts"] == {"running": 1}
        # the same batch again only when it changes
        body = task_event(1, "batch-live", "Succeeded", "oss://in/a.docx")
        body = body.replace(b'"task-event-1"', b'"task-event-1b"')
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
        changed = json.loads((await read_event(resp, "batch"))["data"])
        assert changed["task_counts"] == {"succeeded": 1}


async def test_stream_resumes_from_last_event_id(daemon: Any) -> None:
    body = task_event(2, "batch-old", "Running", "oss://in/b.docx")
    assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
    # a browser reconnecting after a restart sends the id it saw last: an old cursor
    headers = {"Last-Event-ID": "1000000"}
    async with daemon.get("/api/v1/stream?batch_key=batch-old", headers=headers) as resp:
        message = await read_event(resp, "batch")
        assert json.loads(message["data"])["batch_key"] == "batch-old"


async def test_keep_alive_comments(daemon: Any) -> None:
    daemon.app[HUB].keepalive = 0.2
    async with daemon.get("/api/v1/stream") as resp:
        assert await read_event(resp, ":comment", timeout=5) == {":comment": "keep-alive"}


async def test_concurrent_streams_are_bounded(daemon: Any) -> None:
    daemon.app[HUB].max_clients = 1
    async with daemon.get("/api/v1/stream") as first:
        await read_event(first, "hello")
        second = await daemon.get("/api/v1/stream")
        assert second.status == 503
        assert second.headers["Retry-After"] == "5"
        assert (await second.json())["error"] == "busy"
    async with asyncio.timeout(5):
        while daemon.app[HUB].clients:
            await asyncio.sleep(0.05)
    async with daemon.get("/api/v1/stream") as again:
        assert again.status == 200

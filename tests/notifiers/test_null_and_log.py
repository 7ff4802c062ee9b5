"""The ``null`` receiver (drop, counted) and the ``log`` receiver (print to the daemon log)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchrelay.config import from_mapping
from batchrelay.notifiers import build_notifier
from batchrelay.notifiers.log import LogNotifier
from batchrelay.notifiers.null import NullConfig
from tests.http.test_batches import task_event

from .support import make_notification


@pytest.mark.parametrize("spelling", [None, "null"], ids=["bare null", "quoted"])
def test_null_receiver_either_spelling(spelling: str | None) -> None:
    settings = from_mapping({"receivers": {"nowhere": {"type": spelling}}})
    assert isinstance(settings.receivers["nowhere"], NullConfig)


@pytest.fixture
def info_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Log lines at info and above, whatever level an earlier test configured."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**before)


async def test_log_receiver_prints_the_rendered_message(
    session: aiohttp.ClientSession, info_logs: list[MutableMapping[str, Any]]
) -> None:
    config = from_mapping({"receivers": {"terminal": {"type": "log"}}}).receivers["terminal"]
    notifier = build_notifier("terminal", config, session)
    assert isinstance(notifier, LogNotifier)
    await notifier.send(make_notification(failures=2))
    (line,) = [entry for entry in info_logs if entry["event"] == "notification"]
    assert line["receiver"] == "terminal" and line["log_level"] == "info"
    assert line["kinds"] == ["task"] and line["alerts"] == []
    assert "batch-7f3a" in line["title"]
    assert "oss://media-in/2026/clip_0001.mp4" in line["text"]


@pytest.fixture
async def sink() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/hook")), received
    finally:
        await server.close()


async def test_failed_tasks_to_a_webhook_and_nothing_else(
    make_settings: Any, start_daemon: Any, sink: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = sink
    settings = make_settings(
        receivers={"hook": {"type": "webhook", "url": url}, "nowhere": {"type": None}},
        routing={"route": {"receiver": "nowhere", "group_by": ["batch_key"], "group_wait": 0,
                           "routes": [{"match": {"status": ["failed"]}, "receiver": "hook"}]}},
        delivery={"tick": 0.05},
    )  # fmt: skip
    daemon = await start_daemon(settings)
    bodies = [task_event(1, "batch-1", "Succeeded", "oss://in/a.docx"),
              task_event(2, "batch-1", "Failed", "oss://in/b.docx", code="InvalidFile.Corrupted"),
              task_event(3, "batch-1", "Succeeded", "oss://in/c.docx")]  # fmt: skip
    for body in bodies:
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
    async with asyncio.timeout(10):
        while not received:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # time for anything else that would (wrongly) be sent
    assert [e["event_id"] for m in received for e in m["events"]] == ["task-event-2"]
    metrics = await (await daemon.get("/metrics")).text()
    assert 'batchrelay_dropped_total{receiver="nowhere"} 2.0' in metrics
    listed = await (await daemon.get("/api/v1/deliveries")).json()
    assert {d["receiver"] for d in listed["deliveries"]} == {"hook"}  # no row for "nowhere"

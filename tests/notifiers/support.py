"""Helpers for notifier tests: a real HTTP platform on 127.0.0.1, notifications, leaks.

Each channel's test module passes the ``platform`` fixture a *responder* that plays the platform:
it checks the request as the platform would (path, query, headers, signature, JSON shape)
and answers in the platform's format. Tests can queue scripted answers in front of it
with :meth:`Platform.then` to exercise error codes, throttling, 5xx and slow answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from batchrelay.notifiers.base import Notification, SendError


@dataclass(frozen=True)
class Seen:
    """One request as the platform received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Scripted:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Callable[[Seen], Awaitable[web.Response]]
PlatformFactory = Callable[[Responder], Awaitable["Platform"]]


class Platform:
    """A stand-in platform: records every request, answers scripted replies first."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.seen: list[Seen] = []
        self.script: list[Scripted] = []
        self.url = ""

    def then(
        self,
        status: int = 200,
        body: bytes | str | dict[str, Any] | list[Any] = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Platform:
        self.script.append(Scripted(status, body, headers or {}, delay))
        return self

    async def handle(self, request: web.Request) -> web.Response:
        seen = Seen(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        self.seen.append(seen)
        if not self.script:
            return await self.respond(seen)
        scripted = self.script.pop(0)
        if scripted.delay:
            await asyncio.sleep(scripted.delay)
        return answer(scripted.status, scripted.body, scripted.headers)

    @property
    def last(self) -> Seen:
        return self.seen[-1]


def answer(
    status: int,
    body: bytes | str | dict[str, Any] | list[Any],
    headers: dict[str, str] | None = None,
) -> web.Response:
    if isinstance(body, dict | list):
        return web.json_response(body, status=status, headers=headers)
    text = body.encode() if isinstance(body, str) else body
    return web.Response(status=status, body=text, headers=headers)


def failed_task(index: int, code: str = "InvalidParameter.Source", **extra: Any) -> dict[str, Any]:
    view = {
        "event_id": f"ev-{index}",
        "source": "acs.imm",
        "type": "imm:Task:MediaConvert",
        "kind": "task",
        "time": "2026-11-20T03:12:19.800Z",
        "account_id": "1234567890",
        "region": "cn-hangzhou",
        "project": "video-prod",
        "batch_key": "batch-7f3a",
        "task_id": f"MediaConvert-{index:04d}",
        "task_type": "MediaConvert",
        "object_path": f"oss://media-in/2026/clip_{index:04d}.mp4",
        "status": "failed",
        "raw_status": "Failed",
        "code": code,
        "message": f"The source object clip_{index:04d}.mp4 could not be decoded.",
        "statistic": None,
        "phase": "",
        "tags": {},
        "user_data": "",
        "ingress": "mns-queue",
        "data": {},
    }
    return view | extra


#: The default title of ``make_notification()``: three failed tasks of batch-7f3a.
TITLE = "3 tasks failed in batch batch-7f3a (video-prod)"

BATCH: dict[str, Any] = {
    "batch_key": "batch-7f3a",
    "kind": "batch",
    "source": "acs.imm",
    "project": "video-prod",
    "account_id": "1234567890",
    "region": "cn-hangzhou",
    "state": "running",
    "raw_state": "Running",
    "phase": "",
    "error": "",
    "statistic": {"submit_success": 1180, "submit_failure": 37, "skip_files": 3},
    "statistic_time": "2026-11-20T03:12:19.800Z",
    "task_counts": {"succeeded": 1180, "failed": 37, "running": 12},
    "error_codes": {"InvalidParameter.Source": 30, "ResourceNotFound": 7},
    "tags": {"team": "media"},
    "actions": [],
    "create_time": "2026-11-20T02:00:00Z",
    "update_time": "2026-11-20T03:12:19.800Z",
    "first_seen": "2026-11-20T02:00:01Z",
    "last_seen": "2026-11-20T03:12:19.800Z",
    "last_received": "2026-11-20T03:12:20Z",
    "finished_at": None,
    "events": 1230,
}


def make_notification(
    failures: int = 3, batch: dict[str, Any] | None = BATCH, **fields: Any
) -> Notification:
    values: dict[str, Any] = {
        "id": "ntf_01JD6X7V8Q2W3E4R5T6Y7U8I9O",
        "receiver": "ops",
        "route": "/imm/failures",
        "group_key": "{}:{batch_key=batch-7f3a}",
        "events": [failed_task(i) for i in range(failures)],
        "batch": batch,
        "created_at": datetime(2026, 11, 20, 3, 12, 30, tzinfo=UTC),
    }
    return Notification(**(values | fields))


def assert_no_secret(secrets: Iterable[str], *texts: object) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in str(text), f"secret leaked into {text!r}"


async def send_error(coro: Awaitable[None]) -> SendError:
    """Await ``coro`` and return the SendError it raises (failing if it does not)."""
    with pytest.raises(SendError) as caught:
        await coro
    return caught.value

"""Fixtures for the simulator tests: a fixed start, a fake clock, a scriptable HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes import FakeClock

START = datetime(2026, 11, 20, 2, 0, 0, tzinfo=UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """An HTTP endpoint that records requests and answers from a script, then 200."""

    server: TestServer
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path, dict(request.headers), body))
        step = self.script.pop(0) if self.script else 200
        status, headers = step if isinstance(step, tuple) else (step, {})
        return web.json_response({"status": status}, status=status, headers=headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0.0)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    recorder = Recorder(server)
    app.router.add_route("POST", "/{tail:.*}", recorder.handle)
    await server.start_server()
    try:
        yield recorder
    finally:
        await server.close()

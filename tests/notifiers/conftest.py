"""Fixtures for notifier tests; the helpers they use are in ``support``."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchrelay.notifiers.base import Notification

from .support import Platform, PlatformFactory, Responder, make_notification


@pytest.fixture
async def platform() -> AsyncIterator[PlatformFactory]:
    """``await platform(responder)`` → a running :class:`Platform` (closed at teardown)."""
    servers: list[TestServer] = []

    async def start(respond: Responder) -> Platform:
        fake = Platform(respond)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", fake.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        fake.url = str(server.make_url("")).rstrip("/")
        return fake

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def refused_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def notification() -> Notification:
    return make_notification()

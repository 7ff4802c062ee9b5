"""Fixtures shared by the daemon-level tests: settings in a temp dir, a running app, and
one PostgreSQL server for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from batchrelay.app import build
from batchrelay.config import Settings, from_mapping

from .pg import Cluster, running_postgres

SAMPLES = Path(__file__).parent / "fixtures" / "samples"

SettingsFactory = Callable[..., Settings]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings whose store lives in this test's temp dir; keyword sections override."""

    def factory(**sections: Any) -> Settings:
        base = {
            "server": {"host": "127.0.0.1", "port": 0},
            "store": {"url": f"sqlite:///{tmp_path}/relay.db", "synchronous": "NORMAL"},
            "log": {"level": "warning", "format": "json"},
        }
        return from_mapping(_merge(base, sections))

    return factory


Client = TestClient[Any, Any]


@pytest.fixture
async def start_daemon() -> AsyncIterator[Callable[[Settings], Any]]:
    """Start the whole daemon app in-process behind a real server on 127.0.0.1."""
    clients: list[Client] = []

    async def start(settings: Settings) -> Client:
        client: Client = TestClient(TestServer(build(settings), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def daemon(make_settings: SettingsFactory, start_daemon: Any) -> Client:
    client: Client = await start_daemon(make_settings())
    return client


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One PostgreSQL server for the session; a missing server is a failure, not a skip."""
    with running_postgres() as cluster:
        yield cluster

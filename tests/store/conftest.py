"""Fixtures for store tests: factories of started stores that clean up after themselves.

``make_store`` runs each test that uses it against both stores (``[sqlite]`` and
``[postgres]``), on the session's PostgreSQL server (``postgres_cluster``, in
``tests/conftest.py``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from batchrelay.store.base import GroupCommitHook
from batchrelay.store.postgres import store as postgres
from batchrelay.store.postgres.store import PostgresStore
from batchrelay.store.sqlite import store as sqlite
from batchrelay.store.sqlite.store import SQLiteStore

from ..pg import Cluster
from .conformance_support import CommitHooks


@pytest.fixture
async def sqlite_store_factory(tmp_path: Path) -> AsyncIterator[SQLiteStoreFactory]:
    factory = SQLiteStoreFactory(tmp_path)
    yield factory
    await factory.close_all()


class SQLiteStoreFactory:
    """``await factory(name)`` opens (or reopens) ``<tmp>/<name>.db`` and starts it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.opened: list[SQLiteStore] = []

    async def __call__(
        self,
        name: str = "main",
        *,
        on_group_commit: GroupCommitHook | None = None,
        hooks: CommitHooks | None = None,
    ) -> SQLiteStore:
        on_commit = sqlite.commit_hook(hooks.for_store()) if hooks is not None else None
        store = SQLiteStore(self.path(name), on_group_commit=on_group_commit, on_commit=on_commit)
        await store.start()
        self.opened.append(store)
        return store

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.db"

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()  # closing twice is harmless


@pytest.fixture
async def postgres_store_factory(postgres_cluster: Cluster) -> AsyncIterator[PostgresStoreFactory]:
    factory = PostgresStoreFactory(postgres_cluster)
    yield factory
    await factory.close_all()


class PostgresStoreFactory:
    """``await factory(name)`` opens a store on database ``name`` of this test (created on
    first use, so the same name reopens the same data) and starts it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.databases: dict[str, str] = {}  # name -> DSN
        self.opened: list[PostgresStore] = []

    async def __call__(
        self,
        name: str = "main",
        *,
        on_group_commit: GroupCommitHook | None = None,
        hooks: CommitHooks | None = None,
        **options: Any,
    ) -> PostgresStore:
        if hooks is not None:
            options["on_commit"] = postgres.commit_hook(hooks.for_store())
        store = PostgresStore(
            await self.dsn(name), min_size=1, max_size=4, on_group_commit=on_group_commit,
            **options,
        )  # fmt: skip
        await store.start()
        self.opened.append(store)
        return store

    async def dsn(self, name: str = "main") -> str:
        if name not in self.databases:
            prefix = re.sub(r"[^a-z0-9]+", "_", name.lower())
            self.databases[name] = await self.cluster.create_database(prefix)
        return self.databases[name]

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()  # closing twice is harmless
        for dsn in self.databases.values():
            await self.cluster.drop_database(dsn)


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest) -> Any:
    """The conformance suite's ``StoreFactory``, once per implementation."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_store_factory")
    return request.getfixturevalue("postgres_store_factory")

"""Fixtures for store tests: a factory of started SQLite stores that cleans up after itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchrelay.store.base import GroupCommitHook
from batchrelay.store.sqlite import SQLiteStore


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
        self, name: str = "main", *, on_group_commit: GroupCommitHook | None = None
    ) -> SQLiteStore:
        store = SQLiteStore(self.path(name), on_group_commit=on_group_commit)
        await store.start()
        self.opened.append(store)
        return store

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.db"

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()  # closing twice is harmless

"""Throwaway stores for the benchmarks: a fresh SQLite file or PostgreSQL database, what it
takes on disk, and the PostgreSQL cluster that serves the databases (tests/pg.py: initdb
and pg_ctl in a temporary directory on 127.0.0.1, stopped and removed at the end)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
from _common import ROOT

import batchrelay.store
from batchrelay.store import Store, StoreConfig

sys.path.insert(0, str(ROOT))  # for tests/pg.py, the throwaway PostgreSQL cluster
from tests.pg import Cluster, running_postgres

Kind = Literal["sqlite", "postgres"]
KINDS: tuple[Kind, ...] = ("sqlite", "postgres")


@contextlib.contextmanager
def postgres_cluster(needed: bool) -> Iterator[Cluster | None]:
    """A running cluster when ``needed``, stopped (pg_ctl, by its postmaster's PID) and
    deleted when the block ends."""
    if not needed:
        yield None
        return
    with running_postgres() as cluster:
        yield cluster


@dataclass(frozen=True)
class BenchStore:
    """One fresh store: its URL and how to measure it."""

    kind: Kind
    url: str

    @property
    def section(self) -> dict[str, Any]:
        """The daemon's ``store`` section for it (SQLite as the benches run it: NORMAL)."""
        if self.kind == "sqlite":
            return {"url": self.url, "synchronous": "NORMAL"}
        return {"url": self.url}

    def open(self) -> Store:
        """The store, not started, with the larger groups a bulk fill wants."""
        return batchrelay.store.open(StoreConfig(**self.section, max_group=2048))

    @property
    def path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))

    def bytes_in_use(self) -> int:
        """SQLite: the file's pages in use (WAL checkpointed, free pages left out);
        PostgreSQL: pg_total_relation_size summed over the tables (indexes and TOAST
        included), after a VACUUM."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                (pages,) = db.execute("PRAGMA page_count").fetchone()
                (free,) = db.execute("PRAGMA freelist_count").fetchone()
                (page,) = db.execute("PRAGMA page_size").fetchone()
            return int((pages - free) * page)
        return int(asyncio.run(self._pg(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class AS c"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')", vacuum=True)))  # fmt: skip

    def disk_bytes(self) -> int:
        """What it takes on disk now: SQLite's file and WAL, PostgreSQL's database."""
        if self.kind == "sqlite":
            return sum(p.stat().st_size for p in self.path.parent.glob(f"{self.path.name}*"))
        return int(asyncio.run(self._pg("SELECT pg_database_size(current_database())")))

    async def _pg(self, query: str, *, vacuum: bool = False) -> Any:
        conn = await asyncpg.connect(self.url)
        try:
            if vacuum:
                await conn.execute("VACUUM")
            return await conn.fetchval(query)
        finally:
            await conn.close()


@contextlib.contextmanager
def fresh_store(kind: Kind, folder: Path, cluster: Cluster | None) -> Iterator[BenchStore]:
    """A new empty store of ``kind`` (a file in ``folder``, or a database in ``cluster``),
    deleted when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        store = BenchStore("sqlite", f"sqlite:///{folder}/bench.db")
        try:
            yield store
        finally:
            for path in folder.glob("bench.db*"):
                path.unlink()
        return
    if cluster is None:
        raise ValueError("a PostgreSQL store needs the cluster")
    dsn = asyncio.run(cluster.create_database("bench"))
    try:
        yield BenchStore("postgres", dsn)
    finally:
        asyncio.run(cluster.drop_database(dsn))

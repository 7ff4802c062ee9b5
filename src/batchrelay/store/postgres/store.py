"""The store for several replicas: one PostgreSQL database, through asyncpg.

Commits go through a :class:`~batchrelay.store.postgres.group_commit.GroupWriter` (concurrent
callers of this process share one transaction); replicas stay consistent with each other
through the locks taken in ``ledger_sql``. Reads use the same pool, each in one
read-only snapshot. The ledger rules live in ``store/ledger.py``, shared with SQLite, so
both stores give the same ledger for the same events.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.errors import ConfigError, NotReadyError
from batchrelay.events.models import Event
from batchrelay.store.base import (
    Accepted,
    ActionRecord,
    ActionView,
    BatchQuery,
    BatchView,
    CommitOutcome,
    EventView,
    FailedTask,
    GroupCommitHook,
    HistoryPoint,
    Inbound,
    Overview,
    Page,
    QuarantineRecord,
    QuarantineView,
    TaskQuery,
    TaskView,
)
from batchrelay.store.contracts import SECOND, CommitHooks
from batchrelay.store.postgres import ledger_sql as writes
from batchrelay.store.postgres import queries
from batchrelay.store.postgres.alerts import PostgresAlertStore, mark_dirty
from batchrelay.store.postgres.group_commit import GroupWriter
from batchrelay.store.postgres.lease import PostgresLease
from batchrelay.store.postgres.ledger_sql import PostgresCommitHook
from batchrelay.store.postgres.migrate import apply_migrations, bundled_migrations
from batchrelay.store.postgres.outbox import PostgresOutbox, add_obligations
from batchrelay.store.postgres.pool import Pool
from batchrelay.store.postgres.retention import PostgresRetention
from batchrelay.store.postgres.subscriptions import PostgresSubscriptions, owe, owe_event
from batchrelay.store.row_codec import prepare

T = TypeVar("T")

__all__ = ["PostgresCommitHook", "PostgresStore", "commit_hook"]


class PostgresStore:
    """Implements :class:`~batchrelay.store.base.Store` on one PostgreSQL database.

    ``dsn`` is a libpq URL (``postgresql://user:password@host:5432/db``); ``min_size`` and
    ``max_size`` bound the connection pool (the writer holds one connection during a
    commit, reads share the rest). ``timeout`` bounds connecting and waiting for a pooled
    connection, so an unreachable server fails commits quickly with ``StoreError``.
    ``max_group`` bounds the items in one transaction, ``queue_size`` the commits waiting.
    ``on_group_commit(size, seconds)`` is called after each transaction, for metrics;
    ``on_commit(conn, event)`` is awaited inside the transaction for each new event.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        max_group: int = 512,
        queue_size: int = 10_000,
        on_group_commit: GroupCommitHook | None = None,
        on_commit: PostgresCommitHook | None = None,
    ) -> None:
        _check_options(min_size, max_size, timeout, max_group, queue_size)
        self._pool = Pool(dsn, min_size=min_size, max_size=max_size, timeout=timeout)
        self._max_group = max_group
        self._writer = GroupWriter(
            self._pool,
            max_group=max_group,
            queue_size=queue_size,
            on_group_commit=on_group_commit,
            on_commit=on_commit,
        )
        self.outbox = PostgresOutbox(self)
        self.subscriptions = PostgresSubscriptions(self)
        self.alerts = PostgresAlertStore(self)
        self.lease = PostgresLease(self)
        self.retention = PostgresRetention(self)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._writer.running:
            return
        await self._pool.start()
        try:
            async with self._pool.connection("applying migrations") as conn:
                await apply_migrations(conn, bundled_migrations())
            self._writer.start()
        except BaseException:
            await self._pool.close()
            raise

    async def close(self) -> None:
        await self._writer.close()
        await self._pool.close()

    async def ping(self) -> None:
        if not self._writer.running:
            raise NotReadyError("the store is not running")
        async with self._pool.connection("ping") as conn:
            await conn.fetchval("SELECT 1 FROM schema_migrations LIMIT 1")
        await self._writer.health.check(self._probe)

    async def _probe(self) -> None:
        """A small durable write, to learn whether the store can commit (``store/health.py``)."""
        await self._pool.transaction(_write_probe, "a write probe")

    # ------------------------------------------------------------------ metrics

    @property
    def groups(self) -> int:
        """Transactions run by the writer so far."""
        return self._writer.groups

    @property
    def last_group_size(self) -> int:
        return self._writer.last_group_size

    @property
    def last_commit_seconds(self) -> float:
        return self._writer.last_commit_seconds

    # ------------------------------------------------------------------ writes

    async def commit(self, item: Inbound) -> CommitOutcome:
        [outcome] = await self.commit_many([item])
        return outcome

    async def commit_many(self, items: Sequence[Inbound]) -> list[CommitOutcome]:
        if not items:
            return []
        return (await self.accept(items)).outcomes

    async def accept(
        self, items: Sequence[Inbound], rejected: QuarantineRecord | None = None
    ) -> Accepted:
        raw_ids: dict[bytes, int] = {}
        outcomes: list[CommitOutcome] = []
        quarantine_ids: list[int] = []
        # one group at a time: what other callers queue meanwhile goes in between
        for start in range(0, max(1, len(items)), self._max_group):
            chunk = [prepare(item) for item in items[start : start + self._max_group]]
            first = rejected if start == 0 else None
            stored = await self._writer.submit(chunk, first, raw_ids)
            outcomes += stored.outcomes
            quarantine_ids += stored.quarantine_ids
            raw_ids.update(stored.raw_ids)
        return Accepted(outcomes, quarantine_ids[0] if quarantine_ids else None)

    async def quarantine(self, record: QuarantineRecord) -> int:
        quarantine_id = (await self.accept([], record)).quarantine_id
        assert quarantine_id is not None  # a rejected record always gets one
        return quarantine_id

    async def rebuild_ledger(self) -> int:
        return await self.write(writes.rebuild, "the ledger rebuild")

    async def record_action(self, record: ActionRecord) -> int:
        return await self.write(partial(writes.record_action, record=record), "a batch action")

    async def list_batch_actions(
        self, batch_key: str, max_results: int, next_token: str
    ) -> Page[ActionView]:
        query = partial(queries.list_batch_actions, batch_key=batch_key,
                        max_results=max_results, next_token=next_token)  # fmt: skip
        return await self.read(query)

    async def write(
        self, change: Callable[[asyncpg.Connection], Awaitable[T]], doing: str = "a write"
    ) -> T:
        """Run ``change`` in a transaction of its own (not a group commit)."""
        self._check_running()
        return await self._pool.transaction(change, doing)

    async def read(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``query`` in one read-only snapshot."""
        self._check_running()
        return await self._pool.read(query)

    # ------------------------------------------------------------------ reads

    async def get_batch(self, batch_key: str) -> BatchView | None:
        return await self.read(partial(queries.get_batch, batch_key=batch_key))

    async def list_batches(self, query: BatchQuery) -> Page[BatchView]:
        return await self.read(partial(queries.list_batches, query=query))

    async def list_tasks(self, query: TaskQuery) -> Page[TaskView]:
        return await self.read(partial(queries.list_tasks, query=query))

    async def list_quarantine(self, max_results: int, next_token: str) -> Page[QuarantineView]:
        return await self.read(
            partial(queries.list_quarantine, max_results=max_results, next_token=next_token)
        )

    async def batch_state_counts(self) -> dict[str, int]:
        return await self.read(queries.batch_state_counts)

    async def ledger_snapshot(self) -> dict[str, Any]:
        return await self.read(queries.ledger_snapshot)

    # ------------------------------------------------------------------ dashboard reads

    async def list_batch_events(
        self, batch_key: str, max_results: int, next_token: str
    ) -> Page[EventView]:
        return await self.read(
            partial(queries.list_batch_events, batch_key=batch_key,
                    max_results=max_results, next_token=next_token)
        )  # fmt: skip

    async def batch_history(self, batch_key: str, max_points: int) -> list[HistoryPoint]:
        return await self.read(
            partial(queries.batch_history, batch_key=batch_key, max_points=max_points)
        )

    async def changed_batches(self, since: datetime, max_results: int) -> list[BatchView]:
        return await self.read(
            partial(queries.changed_batches, since=since, max_results=max_results)
        )

    async def overview(self, now: datetime) -> Overview:
        return await self.read(partial(queries.overview, now=now))

    async def failed_tasks(
        self, batch_key: str, codes: Sequence[str], per_code: int
    ) -> dict[str, list[FailedTask]]:
        return await self.read(
            partial(queries.failed_tasks, batch_key=batch_key, codes=codes, per_code=per_code)
        )

    async def batch_activity(
        self, batch_keys: Sequence[str], since: datetime, bucket: timedelta, buckets: int
    ) -> dict[str, list[int]]:
        return await self.read(
            partial(queries.batch_activity, batch_keys=batch_keys, since=since,
                    bucket=bucket, buckets=buckets)
        )  # fmt: skip

    # ------------------------------------------------------------------ copying a store

    async def read_journal(self, after: int, limit: int) -> list[tuple[int, Inbound]]:
        return await self.read(partial(queries.read_journal, after=after, limit=limit))

    def _check_running(self) -> None:
        if not self._writer.running:
            raise NotReadyError("the store is not running")


def commit_hook(hooks: CommitHooks) -> PostgresCommitHook | None:
    """``hooks`` as this store awaits them, on the commit's connection, in its transaction."""
    if not hooks:
        return None
    route, mark, subscribed = hooks.route, hooks.mark_dirty, hooks.subscriptions

    async def hook(conn: asyncpg.Connection, event: Event) -> None:
        owed = route(event) if route is not None else None
        if owed is not None:
            if subscribed:
                await owe(conn, owed.view, owed.matches, int(owed.at * SECOND))
            else:
                await add_obligations(conn, owed.view, owed.matches, int(owed.at * SECOND))
        elif subscribed:
            await owe_event(conn, event)
        if mark:
            await mark_dirty(conn, event)

    return hook


async def _write_probe(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO store_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = $1",
        time.time_ns() // 1000,
    )


def _check_options(
    min_size: int, max_size: int, timeout: float, max_group: int, queue_size: int
) -> None:
    if min_size < 0 or max_size < 1 or min_size > max_size:
        raise ConfigError(
            f"pool sizes need 0 <= min_size <= max_size and max_size >= 1, "
            f"not min_size={min_size!r}, max_size={max_size!r}"
        )
    if timeout <= 0:
        raise ConfigError(f"timeout must be positive, not {timeout!r}")
    for name, value in (("max_group", max_group), ("queue_size", queue_size)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, not {value!r}")

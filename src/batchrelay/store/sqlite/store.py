"""The embedded default store: one SQLite file in WAL mode.

Writes go through one :class:`~batchrelay.store.sqlite.group_commit.GroupWriter` (one thread,
one connection, group commit); reads go through a small pool of read-only connections
that never wait on it. The ledger rules live in ``store/ledger.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from batchrelay.errors import ConfigError, NotReadyError, StoreError
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
from batchrelay.store.row_codec import PreparedEvent, prepare
from batchrelay.store.sqlite import queries
from batchrelay.store.sqlite.alerts import SQLiteAlertStore, mark_dirty
from batchrelay.store.sqlite.checkpoint import Checkpointer
from batchrelay.store.sqlite.group_commit import GroupWriter
from batchrelay.store.sqlite.lease import AlwaysHeld
from batchrelay.store.sqlite.ledger_sql import CommitWork, LedgerWriter, Stored
from batchrelay.store.sqlite.migrate import apply_migrations, bundled_migrations
from batchrelay.store.sqlite.outbox import SQLiteOutbox, add_obligations
from batchrelay.store.sqlite.pool import ReadPool
from batchrelay.store.sqlite.retention import SQLiteRetention
from batchrelay.store.sqlite.statements import STATEMENTS
from batchrelay.store.sqlite.subscriptions import SQLiteSubscriptions, owe, owe_event

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000  # only other processes (a CLI rebuild, a backup) can hold the lock
# WAL pages after which the writer checkpoints itself (SQLite's default: 1000): the bound on
# the WAL for when the checkpointer thread (store/sqlite/checkpoint.py), which usually
# restarts it long before, cannot keep up.
WAL_CHECKPOINT_PAGES = 4000


class SQLiteStore:
    """Implements :class:`~batchrelay.store.base.Store` on one SQLite file.

    ``synchronous="FULL"`` fsyncs every group commit (durable on power loss);
    ``"NORMAL"`` in WAL mode survives a process crash but may lose the newest commits on
    power loss. ``max_group`` bounds the items in one transaction, ``queue_size`` the write
    requests waiting (callers then wait: backpressure), ``readers`` the read connections.
    ``on_group_commit(size, seconds)`` is called after each transaction, for metrics.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        max_group: int = 512,
        queue_size: int = 10_000,
        readers: int = 2,
        on_group_commit: GroupCommitHook | None = None,
        on_commit: CommitHook | None = None,
    ) -> None:
        _check_options(synchronous, max_group, queue_size, readers)
        self.path = Path(path)
        self._on_commit = on_commit
        self._max_group = max_group
        self.checkpointer = Checkpointer(partial(_open_checkpointer, self.path, synchronous))
        self._writer = GroupWriter(
            partial(_open_writer, self.path, synchronous),
            max_group=max_group,
            queue_size=queue_size,
            on_group_commit=on_group_commit,
            after_commit=self.checkpointer.nudge,
        )
        self._readers = ReadPool(partial(_open_reader, self.path), readers)
        self.outbox = SQLiteOutbox(self)
        self.subscriptions = SQLiteSubscriptions(self)
        self.alerts = SQLiteAlertStore(self)
        self.lease = AlwaysHeld()
        self.retention = SQLiteRetention(self._writer, self._read)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._writer.running:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._writer.start()  # first: it creates the file, WAL and schema
        try:
            await self._readers.start()
            await asyncio.to_thread(self.checkpointer.start)
        except BaseException:
            await self._writer.close()
            await self._readers.close()
            raise

    async def close(self) -> None:
        await self._writer.close()
        await asyncio.to_thread(self.checkpointer.stop)  # after the writer's last nudge
        await self._readers.close()

    async def ping(self) -> None:
        if not self._writer.running:
            raise NotReadyError("the store is not running")
        await self._read(_ping)
        await self._writer.health.check(self._probe)

    async def _probe(self) -> None:
        await self._writer.submit(_write_probe)

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
        quarantine_id = None
        # one group at a time: what other callers queue meanwhile goes in between
        for start in range(0, max(1, len(items)), self._max_group):
            chunk = [prepare(item) for item in items[start : start + self._max_group]]
            first = rejected if start == 0 else None
            stored = await self._writer.submit(self._work(chunk, first, raw_ids), len(chunk) or 1)
            outcomes += stored.outcomes
            raw_ids.update(stored.raw_ids)
            quarantine_id = stored.quarantine_id if start == 0 else quarantine_id
        return Accepted(outcomes, quarantine_id)

    def _work(
        self,
        items: list[PreparedEvent],
        rejected: QuarantineRecord | None,
        raw_ids: dict[bytes, int],
    ) -> CommitWork:
        hook = self._on_commit
        known = dict(raw_ids)
        if hook is None:
            return CommitWork(items, rejected, known)
        return _HookedCommit(items, rejected, known, hook=hook)

    async def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``change`` on the writer's connection in the next group transaction."""
        return await self._writer.submit(lambda writer: change(writer.connection))

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` on a read-only connection, in one read transaction."""
        return await self._read(query)

    async def quarantine(self, record: QuarantineRecord) -> int:
        quarantine_id = (await self.accept([], record)).quarantine_id
        assert quarantine_id is not None  # a rejected record always gets one
        return quarantine_id

    async def rebuild_ledger(self) -> int:
        return await self._writer.submit(LedgerWriter.rebuild)

    async def record_action(self, record: ActionRecord) -> int:
        return await self._writer.submit(partial(LedgerWriter.record_action, record=record))

    async def list_batch_actions(
        self, batch_key: str, max_results: int, next_token: str
    ) -> Page[ActionView]:
        query = partial(queries.list_batch_actions, batch_key=batch_key,
                        max_results=max_results, next_token=next_token)  # fmt: skip
        return await self._read(query)

    # ------------------------------------------------------------------ reads

    async def get_batch(self, batch_key: str) -> BatchView | None:
        return await self._read(partial(queries.get_batch, batch_key=batch_key))

    async def list_batches(self, query: BatchQuery) -> Page[BatchView]:
        return await self._read(partial(queries.list_batches, query=query))

    async def list_tasks(self, query: TaskQuery) -> Page[TaskView]:
        return await self._read(partial(queries.list_tasks, query=query))

    async def list_quarantine(self, max_results: int, next_token: str) -> Page[QuarantineView]:
        return await self._read(
            partial(queries.list_quarantine, max_results=max_results, next_token=next_token)
        )

    async def batch_state_counts(self) -> dict[str, int]:
        return await self._read(queries.batch_state_counts)

    async def ledger_snapshot(self) -> dict[str, Any]:
        return await self._read(queries.ledger_snapshot)

    async def read_journal(self, after: int, limit: int) -> list[tuple[int, Inbound]]:
        return await self._read(partial(queries.read_journal, after=after, limit=limit))

    # ------------------------------------------------------------------ dashboard reads

    async def list_batch_events(
        self, batch_key: str, max_results: int, next_token: str
    ) -> Page[EventView]:
        return await self._read(
            partial(queries.list_batch_events, batch_key=batch_key,
                    max_results=max_results, next_token=next_token)
        )  # fmt: skip

    async def batch_history(self, batch_key: str, max_points: int) -> list[HistoryPoint]:
        return await self._read(
            partial(queries.batch_history, batch_key=batch_key, max_points=max_points)
        )

    async def changed_batches(self, since: datetime, max_results: int) -> list[BatchView]:
        return await self._read(
            partial(queries.changed_batches, since=since, max_results=max_results)
        )

    async def overview(self, now: datetime) -> Overview:
        return await self._read(partial(queries.overview, now=now))

    async def failed_tasks(
        self, batch_key: str, codes: Sequence[str], per_code: int
    ) -> dict[str, list[FailedTask]]:
        return await self._read(
            partial(queries.failed_tasks, batch_key=batch_key, codes=codes, per_code=per_code)
        )

    async def batch_activity(
        self, batch_keys: Sequence[str], since: datetime, bucket: timedelta, buckets: int
    ) -> dict[str, list[int]]:
        return await self._read(
            partial(queries.batch_activity, batch_keys=batch_keys, since=since,
                    bucket=bucket, buckets=buckets)
        )  # fmt: skip

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await self._readers.run(query)


#: Called on the writer thread for each newly journaled event, inside its transaction:
#: whatever it writes (notification obligations) commits or rolls back with the event.
CommitHook = Callable[[sqlite3.Connection, Event], None]


@dataclass(frozen=True, slots=True)
class _HookedCommit(CommitWork):
    hook: CommitHook = field(kw_only=True)

    def __call__(self, writer: LedgerWriter) -> Stored:
        stored = CommitWork.__call__(self, writer)
        for item, outcome in zip(self.items, stored.outcomes, strict=True):
            if outcome is CommitOutcome.COMMITTED:
                self.hook(writer.connection, item.event)
        return stored


def commit_hook(hooks: CommitHooks) -> CommitHook | None:
    """``hooks`` as this store runs them: on its writer thread, in the event's transaction."""
    if not hooks:
        return None
    route, mark, subscribed = hooks.route, hooks.mark_dirty, hooks.subscriptions

    def hook(conn: sqlite3.Connection, event: Event) -> None:
        owed = route(event) if route is not None else None
        if owed is not None:
            if subscribed:
                owe(conn, owed.view, owed.matches, int(owed.at * SECOND))
            else:
                add_obligations(conn, owed.view, owed.matches, int(owed.at * SECOND))
        elif subscribed:
            owe_event(conn, event)
        if mark:
            mark_dirty(conn, event)

    return hook


def _check_options(synchronous: str, max_group: int, queue_size: int, readers: int) -> None:
    if synchronous not in ("FULL", "NORMAL"):
        raise ConfigError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    for name, value in (("max_group", max_group), ("queue_size", queue_size), ("readers", readers)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, not {value!r}")


def _ping(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()


def _write_probe(writer: LedgerWriter) -> None:
    """A small durable write, to learn whether the store can commit (``store/health.py``)."""
    writer.connection.execute(
        "INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = ?",
        (time.time_ns() // 1000,) * 2,
    )


def _open_writer(path: Path, synchronous: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (the group commit needs that)
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=STATEMENTS)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # a new file only (an existing one keeps its mode until a VACUUM): retention then
        # gives freed pages back to the file system a few at a time (PRAGMA incremental_vacuum)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode != "wal":
            raise StoreError(f"{path}: cannot switch to WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")  # checked in _check_options
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        apply_migrations(conn, bundled_migrations())
    except BaseException:
        conn.close()
        raise
    return conn


def _open_checkpointer(path: Path, synchronous: str) -> sqlite3.Connection:
    # opened by Checkpointer.start() (which fails if it cannot be), used on its own thread;
    # no busy timeout: a PASSIVE checkpoint never waits, it does what it can
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA synchronous = {synchronous}")  # how the database file is synced
    return conn


def _open_reader(path: Path) -> sqlite3.Connection:
    # mode=ro: a reader can never take the write lock; check_same_thread=False because the
    # pool moves a connection between its threads, never using it from two at once
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn

"""Group commit for the PostgreSQL store: concurrent commits share one transaction.

Callers queue their events and await a future. One writer task takes the first request and
whatever else is queued (up to ``max_group`` items), commits them all in one transaction
(one WAL flush for the lot) and answers every caller; requests that queued meanwhile form
the next group. Other replicas run their own writers: their transactions meet only in the
locks of ``ledger_sql``.

A bad request fails only its own caller: the group first runs as one unit; if it fails,
it is rolled back and run again at once with one SAVEPOINT per request, so only the
failing requests are undone (their work therefore may run twice, and must have no effect
but through the connection). A group that PostgreSQL aborts as a deadlock or
serialization victim is retried whole, a few times.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import structlog

from batchrelay.errors import NotReadyError, StoreError
from batchrelay.store.base import GroupCommitHook, QuarantineRecord
from batchrelay.store.health import WriteHealth
from batchrelay.store.postgres.ledger_sql import (
    PostgresCommitHook,
    Stored,
    commit_events,
    lock_and_read,
)
from batchrelay.store.postgres.pool import Pool, store_error
from batchrelay.store.row_codec import PreparedEvent

log = structlog.get_logger(__name__)

#: Whole-group attempts when PostgreSQL picks the group as a deadlock or serialization
#: victim; the locking order makes that rare, so a few tries suffice.
ROLLBACK_RETRIES = 5

Result = Stored | StoreError


@dataclass(slots=True)
class _Request:
    items: Sequence[PreparedEvent]
    rejected: QuarantineRecord | None
    raw_ids: dict[bytes, int]  # bodies stored by earlier groups
    future: asyncio.Future[Stored]

    @property
    def size(self) -> int:
        return len(self.items) or 1

    @property
    def records(self) -> list[QuarantineRecord]:
        return [] if self.rejected is None else [self.rejected]


class GroupWriter:
    """Owns the writer task; see the module docstring. ``queue_size`` bounds the requests
    submitted and not yet answered: callers beyond it wait for room (backpressure)."""

    def __init__(
        self,
        pool: Pool,
        *,
        max_group: int,
        queue_size: int,
        on_group_commit: GroupCommitHook | None = None,
        on_commit: PostgresCommitHook | None = None,
    ) -> None:
        self._pool = pool
        self._max_group = max_group
        self._on_group_commit = on_group_commit
        self._on_commit = on_commit
        self._room = asyncio.Semaphore(queue_size)
        self._queue: collections.deque[_Request] = collections.deque()
        self._wakeup = asyncio.Event()
        self._stop = False
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self.health = WriteHealth()  # how the newest transaction ended, for ping()
        self.groups = 0  # transactions committed (or attempted) so far
        self.last_group_size = 0
        self.last_commit_seconds = 0.0

    def start(self) -> None:
        if self._task is not None:
            raise StoreError("the store was already started; open a new one after close()")
        self._task = asyncio.create_task(self._serve(), name="batchrelay-postgres-writer")
        self._accepting = True

    @property
    def running(self) -> bool:
        return self._accepting and self._task is not None and not self._task.done()

    async def submit(
        self,
        items: Sequence[PreparedEvent],
        rejected: QuarantineRecord | None = None,
        raw_ids: dict[bytes, int] | None = None,
    ) -> Stored:
        """Commit ``items`` (and keep ``rejected``) in the next group; returns once that
        transaction is durable. ``raw_ids``: bodies already stored, to reference."""
        if not self.running:
            raise NotReadyError("the store is not accepting writes")
        await self._room.acquire()  # backpressure: waits while the queue is full
        if not self.running:  # the writer stopped while we waited for room
            self._room.release()
            raise NotReadyError("the store closed before this write was taken")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        request = _Request(items, rejected, dict(raw_ids or {}), future)
        self._queue.append(request)
        self._wakeup.set()
        return await request.future

    async def close(self) -> None:
        """Stop accepting, commit everything already queued, stop the writer task."""
        self._accepting = False
        self._stop = True
        self._wakeup.set()
        if self._task is not None:
            # shielded: a caller giving up on close() must not abandon queued commits
            await asyncio.shield(asyncio.wait([self._task]))
            if not self._task.cancelled() and self._task.exception() is not None:
                log.error("store.writer_failed", exc_info=self._task.exception())
        self._fail(list(self._queue), NotReadyError("the store closed before this write"))
        self._queue.clear()

    # ------------------------------------------------------------------ the writer task

    async def _serve(self) -> None:
        while (group := await self._next_group()) is not None:
            started = time.perf_counter()
            results: list[Result] = [NotReadyError("the store writer stopped")] * len(group)
            try:
                results = await self._run(group)
            finally:  # answered even if the task is cancelled, so that no caller waits forever
                self._answer(group, results)
                self._record(sum(r.size for r in group), time.perf_counter() - started)

    async def _next_group(self) -> list[_Request] | None:
        while not self._queue:
            if self._stop:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        group: list[_Request] = []
        size = 0
        while self._queue and size < self._max_group:
            request = self._queue.popleft()
            group.append(request)
            size += request.size
        return group

    async def _run(self, group: list[_Request]) -> list[Result]:
        for attempt in range(1, ROLLBACK_RETRIES + 1):
            try:
                async with self._pool.connection("a commit") as conn:
                    results = await self._transaction(conn, group)
                failures = [r for r in results if isinstance(r, StoreError)]
                if len(failures) == len(results):  # nothing went in: the store, not the data
                    self.health.failed(failures[0])
                else:
                    self.health.succeeded()
                return results
            except Exception as exc:  # the whole group failed: none of it is durable
                error = store_error(exc, "a commit")
                victim = isinstance(error.__cause__, asyncpg.TransactionRollbackError)
                if not victim or attempt == ROLLBACK_RETRIES:
                    self.health.failed(error)
                    return [error] * len(group)
                log.info("store.group_retried", reason=type(error.__cause__).__name__)
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    async def _transaction(self, conn: Any, group: list[_Request]) -> list[Result]:
        known = {body: i for r in group for body, i in r.raw_ids.items()}
        try:
            async with conn.transaction():
                stored = await commit_events(
                    conn,
                    [item for r in group for item in r.items],
                    self._on_commit,
                    [record for r in group for record in r.records],
                    known,
                )
        except asyncpg.TransactionRollbackError:
            raise  # the whole group again (see _run)
        except Exception as exc:  # undone; now each request on its own
            if len(group) == 1:
                return [store_error(exc, "a commit")]
            log.debug("store.group_split", error=type(exc).__name__, requests=len(group))
            return await self._one_by_one(conn, group)
        results: list[Result] = []
        outcomes, quarantine_ids = stored.outcomes, stored.quarantine_ids
        for request in group:
            n, q = len(request.items), len(request.records)
            bodies = [item.raw for item in request.items] + [r.raw for r in request.records]
            raw_ids = {body: stored.raw_ids[body] for body in bodies if body in stored.raw_ids}
            results.append(Stored(outcomes[:n], quarantine_ids[:q], raw_ids))
            outcomes, quarantine_ids = outcomes[n:], quarantine_ids[q:]
        return results

    async def _one_by_one(self, conn: Any, group: list[_Request]) -> list[Result]:
        async with conn.transaction():
            # every lock of the group first, in the global order, as one unit would take them
            await lock_and_read(conn, [item.event for r in group for item in r.items])
            return [await self._savepoint(conn, request) for request in group]

    async def _savepoint(self, conn: Any, request: _Request) -> Result:
        try:
            async with conn.transaction():  # nested: a SAVEPOINT
                return await commit_events(
                    conn, request.items, self._on_commit, request.records, request.raw_ids
                )
        except asyncpg.TransactionRollbackError:
            raise
        except asyncpg.InterfaceError:
            raise  # the connection itself failed: nothing later in the group can succeed
        except Exception as exc:  # only this request is undone; the group goes on
            return store_error(exc, "a commit")

    # ------------------------------------------------------------------ answers, metrics

    def _answer(self, group: list[_Request], results: list[Result]) -> None:
        for request, result in zip(group, results, strict=True):
            if not request.future.done():  # a cancelled caller: its work may have committed
                if isinstance(result, BaseException):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)
            self._room.release()

    def _fail(self, requests: list[_Request], error: StoreError) -> None:
        self._answer(requests, [error] * len(requests))

    def _record(self, size: int, seconds: float) -> None:
        self.groups += 1
        self.last_group_size = size
        self.last_commit_seconds = seconds
        if self._on_group_commit is None:
            return
        try:
            self._on_group_commit(size, seconds)
        except Exception:  # a metrics hook must never stop the writer
            log.exception("store.group_commit_hook_failed")

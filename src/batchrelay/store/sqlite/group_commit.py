"""The single writer of the SQLite store: one thread, one connection, group commit.

Callers put a request in a queue and await its future. The writer thread takes the first
request and whatever else is queued (up to ``max_group`` items), runs them all in one
transaction, hands the results back to the event loop and, if more requests queued up
meanwhile, goes straight on to the next group: a group costs one fsync however many
callers it serves. SQLite allows one writer at a time anyway; doing the queuing ourselves
turns that limit into batching instead of lock contention.

The thread starts the next group itself rather than waiting for the event loop to hand it
over: under load, every trip between the loop and the thread costs the time the loop
takes to get round to it, and the group commit cycle is what every caller waits for. An
idle thread is woken once per loop iteration that queued something, so the requests of
one burst still go in one group.

A bad request fails only its own caller, optimistically: the group first runs *staged*
(its rows written by a few multi-row statements at the end, see ``ledger_sql``); if
anything in it fails, the transaction is rolled back and the group runs again
*immediately*, one SAVEPOINT per request, so only the failing requests are undone.
Failures are rare; savepoints and per-row statements on every group are not free. So a
request's work may run twice: it must have no effect but through the connection and the
:class:`~batchrelay.store.sqlite.ledger_sql.LedgerWriter` (both are rolled back in between).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from batchrelay.errors import NotReadyError, StoreError
from batchrelay.store.base import GroupCommitHook
from batchrelay.store.health import WriteHealth
from batchrelay.store.sqlite.ledger_sql import LedgerWriter
from batchrelay.store.sqlite.state_cache import BatchCache

T = TypeVar("T")
Work = Callable[[LedgerWriter], Any]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Request:
    work: Work
    size: int  # items, for max_group and the group-size metric
    future: asyncio.Future[Any]


class GroupWriter:
    """Owns the write connection and its thread; see the module docstring.

    ``queue_size`` bounds the requests submitted and not yet answered: callers beyond it
    wait for room (backpressure).
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_group: int,
        queue_size: int,
        on_group_commit: GroupCommitHook | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._after_commit = after_commit  # on the writer thread (the checkpointer's nudge)
        self._max_group = max_group
        self._on_group_commit = on_group_commit
        # the thread starts on first use and the semaphore binds to the loop on first use,
        # so neither touches the event loop here
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="batchrelay-sqlite-writer")
        self._room = asyncio.Semaphore(queue_size)
        # shared with the writer thread, under the condition's lock
        self._wakeup = threading.Condition()
        self._queue: collections.deque[_Request] = collections.deque()
        self._stop = False
        self._kick_scheduled = False  # event loop only
        self._conn: sqlite3.Connection | None = None
        self._ledger: LedgerWriter | None = None  # lives as long as the connection
        self._serving: Future[None] | None = None  # the thread's group loop
        self._task: asyncio.Task[None] | None = None  # watches the thread's group loop
        self._closer: asyncio.Task[None] | None = None
        self._accepting = False
        self.health = WriteHealth()  # how the newest transaction ended, for ping()
        self.groups = 0  # transactions committed (or attempted) so far
        self.last_group_size = 0
        self.last_commit_seconds = 0.0

    async def start(self) -> None:
        if self._task is not None:
            raise StoreError("the store was already started; open a new one after close()")
        # the connection is created on the writer thread and never leaves it
        try:
            self._conn = await asyncio.wrap_future(self._executor.submit(self._connect))
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        self._ledger = LedgerWriter(self._conn, BatchCache())
        self._serving = self._executor.submit(self._serve, asyncio.get_running_loop())
        watch = self._watch(self._serving)
        self._task = asyncio.create_task(watch, name="batchrelay-sqlite-writer")
        self._accepting = True

    @property
    def running(self) -> bool:
        return self._accepting and self._task is not None and not self._task.done()

    async def submit(self, work: Callable[[LedgerWriter], T], size: int = 1) -> T:
        """Run ``work`` in the next group transaction; returns once that is durable."""
        if not self.running:
            raise NotReadyError("the store is not accepting writes")
        await self._room.acquire()  # backpressure: waits while the queue is full
        if not self.running:  # the writer stopped while we waited for room
            self._room.release()
            raise NotReadyError("the store closed before this write was taken")
        request = _Request(work, size, asyncio.get_running_loop().create_future())
        with self._wakeup:
            self._queue.append(request)
        self._kick_soon()
        result: T = await request.future
        return result

    async def close(self) -> None:
        """Stop accepting, commit everything already queued, close the connection."""
        if self._task is None:
            return
        if self._closer is None:
            self._accepting = False
            self._closer = asyncio.create_task(self._shutdown(), name="batchrelay-sqlite-close")
        # shielded: a caller giving up on close() must not abandon queued commits
        await asyncio.shield(self._closer)

    async def _shutdown(self) -> None:
        with self._wakeup:
            self._stop = True  # the thread finishes what is queued, then returns
            self._wakeup.notify()
        if self._serving is not None:
            await asyncio.wait([asyncio.wrap_future(self._serving)])
            if not self._serving.cancelled() and self._serving.exception() is not None:
                log.error("store.writer_failed", exc_info=self._serving.exception())
        self._fail_leftovers()
        if self._conn is not None:
            await asyncio.wrap_future(self._executor.submit(self._conn.close))
        self._executor.shutdown(wait=True)

    async def _watch(self, serving: Future[None]) -> None:
        """Lives as long as the writer thread serves; a writer that died fails what waits
        (its error is logged by ``close()``)."""
        try:
            await asyncio.wrap_future(serving)
        except Exception:
            self._fail_leftovers()

    def _fail_leftovers(self) -> None:
        """Requests the writer never took (it only stops early if it died)."""
        with self._wakeup:
            leftovers = list(self._queue)
            self._queue.clear()
        for request in leftovers:
            _resolve(request.future, NotReadyError("the store closed before this write"))
            self._room.release()

    # ------------------------------------------------------------------ event loop side

    def _kick_soon(self) -> None:
        """Wake an idle writer once this loop iteration has queued all it will."""
        if not self._kick_scheduled:
            self._kick_scheduled = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _kick(self) -> None:
        self._kick_scheduled = False
        with self._wakeup:
            self._wakeup.notify()

    def _finish(
        self,
        group: list[_Request],
        results: list[Any],
        seconds: float,
        failure: Exception | None,
        wrote: bool,
    ) -> None:
        """On the event loop: answer the group's callers. Only a commit that wrote a row
        shows the store can commit: one that changed nothing (a dispatcher pass with nothing
        due) succeeds even on a full disk."""
        if failure is not None:
            self.health.failed(failure)
        elif wrote:
            self.health.succeeded()
        for request, result in zip(group, results, strict=True):
            _resolve(request.future, result)
            self._room.release()
        self._record(sum(request.size for request in group), seconds)

    # ------------------------------------------------------------------ writer thread

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer thread: run groups back to back until stopped and drained."""
        while (group := self._next_group()) is not None:
            started = time.perf_counter()
            # answered even if the thread dies here, so that no caller waits forever
            stopped = NotReadyError("the store writer stopped")
            results: list[Any] = [stopped] * len(group)
            failure: Exception | None = stopped
            conn = self._conn
            before = conn.total_changes if conn is not None else 0
            try:
                results, failure = self._transaction([request.work for request in group])
            finally:
                seconds = time.perf_counter() - started
                wrote = conn is not None and conn.total_changes != before
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(self._finish, group, results, seconds, failure,
                                              wrote)  # fmt: skip
            if wrote and failure is None and self._after_commit is not None:
                self._after_commit()

    def _next_group(self) -> list[_Request] | None:
        """The first queued request and more, up to ``max_group`` items; waits while none
        is queued; ``None`` once stopped with nothing queued."""
        with self._wakeup:
            while not self._queue and not self._stop:
                self._wakeup.wait()
            group: list[_Request] = []
            size = 0
            while self._queue and size < self._max_group:
                request = self._queue.popleft()
                group.append(request)
                size += request.size
            return group or None

    def _transaction(self, works: list[Work]) -> tuple[list[Any], Exception | None]:
        """On the writer thread: the whole group in one transaction (see the module doc).
        Also returns why the transaction as a whole failed (None when it committed)."""
        try:
            return self._attempt(works, staged=True), None
        except Exception as exc:  # undone; now each request on its own
            log.debug("store.group_retried", error=type(exc).__name__, requests=len(works))
        try:
            return self._attempt(works, staged=False), None
        except Exception as exc:  # the group as a whole failed: none of it is durable
            error = _store_error(exc)
            return [error for _ in works], error

    def _attempt(self, works: list[Work], *, staged: bool) -> list[Any]:
        """One result per request, committed; raises (rolled back) when the transaction
        fails, or when a request fails in a staged transaction."""
        conn, writer = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            writer.begin(works, staged=staged)
            if staged:
                results = [work(writer) for work in works]
            else:
                results = [_savepoint(conn, writer, work) for work in works]
            writer.flush()
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            writer.abandon()
            raise
        return results

    def _connection(self) -> tuple[sqlite3.Connection, LedgerWriter]:
        if self._conn is None or self._ledger is None:
            raise NotReadyError("the store is not started")
        return self._conn, self._ledger

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


def _savepoint(conn: sqlite3.Connection, writer: LedgerWriter, work: Work) -> Any:
    saved = writer.save()
    conn.execute("SAVEPOINT request")
    try:
        result = work(writer)
    except Exception as exc:  # only this request is undone; the group goes on
        writer.restore(saved)
        conn.execute("ROLLBACK TO request")
        conn.execute("RELEASE request")
        return _store_error(exc)
    conn.execute("RELEASE request")
    return result


def _store_error(exc: Exception) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    error = StoreError(f"write failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # the caller was cancelled; its work may still have committed
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)

"""The single writer of the SQLite store: one task, one thread, one connection, group commit.

Callers put a request on a bounded queue and await its future. The writer task takes the
first request, drains whatever else is already queued (up to ``max_group`` items) and runs
them all in one transaction on its own thread, one SAVEPOINT per request, so a group costs
one fsync however many callers it serves and a bad request fails only its own caller.
SQLite allows one writer at a time anyway; doing the queuing ourselves turns that limit
into batching instead of lock contention.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from batchrelay.errors import NotReadyError, StoreError
from batchrelay.store.base import GroupCommitHook
from batchrelay.store.sqlite_writes import LedgerWriter

T = TypeVar("T")
Work = Callable[[LedgerWriter], Any]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Request:
    work: Work
    size: int  # items, for max_group and the group-size metric
    future: asyncio.Future[Any]


class GroupWriter:
    """Owns the write connection; see the module docstring."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_group: int,
        queue_size: int,
        on_group_commit: GroupCommitHook | None = None,
    ) -> None:
        self._connect = connect
        self._max_group = max_group
        self._on_group_commit = on_group_commit
        # threads start on first use and the queue binds to the loop on first use, so
        # neither touches the event loop here
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="batchrelay-sqlite-writer")
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue(maxsize=queue_size)
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._accepting = False
        self._stopped = False
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
        self._task = asyncio.create_task(self._run(), name="batchrelay-sqlite-writer")
        self._accepting = True

    @property
    def running(self) -> bool:
        return self._accepting and self._task is not None and not self._task.done()

    async def submit(self, work: Callable[[LedgerWriter], T], size: int = 1) -> T:
        """Run ``work`` in the next group transaction; returns once that is durable."""
        if not self.running:
            raise NotReadyError("the store is not accepting writes")
        request = _Request(work, size, asyncio.get_running_loop().create_future())
        await self._queue.put(request)  # backpressure: waits while the queue is full
        if self._stopped:  # the writer ended while we waited for room
            request.future.cancel()  # nobody will wait for it now
            raise NotReadyError("the store closed before this write was taken")
        result: T = await request.future
        return result

    async def close(self) -> None:
        """Stop accepting, commit everything already queued, close the connection."""
        if self._task is None:
            return
        if self._closer is None:
            self._accepting = False
            shutdown = self._shutdown(self._task)
            self._closer = asyncio.create_task(shutdown, name="batchrelay-sqlite-close")
        # shielded: a caller giving up on close() must not abandon queued commits
        await asyncio.shield(self._closer)

    async def _shutdown(self, writer: asyncio.Task[None]) -> None:
        if not writer.done():
            await self._queue.put(None)
        await asyncio.wait([writer])  # returns even if the writer died; that is logged below
        if not writer.cancelled() and writer.exception() is not None:
            log.error("store.writer_failed", exc_info=writer.exception())
        self._fail_leftovers()
        if self._conn is not None:
            await asyncio.wrap_future(self._executor.submit(self._conn.close))
        self._executor.shutdown(wait=True)

    def _fail_leftovers(self) -> None:
        """Requests the writer never took (it only stops early if it died)."""
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if request is not None:
                _resolve(request.future, NotReadyError("the store closed before this write"))

    async def _run(self) -> None:
        stopping = False
        while not (stopping and self._queue.empty()):
            group, saw_stop = await self._take_group()
            stopping = stopping or saw_stop
            if group:
                await self._commit_group(group)
        # no await since the emptiness check: nothing can slip into the queue unseen
        self._stopped = True

    async def _take_group(self) -> tuple[list[_Request], bool]:
        """The first request (waiting for it), plus whatever is already queued."""
        group: list[_Request] = []
        saw_stop, size = False, 0
        item = await self._queue.get()
        while True:
            if item is None:
                saw_stop = True
            else:
                group.append(item)
                size += item.size
            if size >= self._max_group or self._queue.empty():
                return group, saw_stop
            item = self._queue.get_nowait()

    async def _commit_group(self, group: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            works = [request.work for request in group]
            results = await asyncio.wrap_future(self._executor.submit(self._transaction, works))
        except Exception as exc:  # the thread could not even run the group
            results = [_store_error(exc) for _ in group]
        seconds = time.perf_counter() - started
        for request, result in zip(group, results, strict=True):
            _resolve(request.future, result)
        self._record(sum(request.size for request in group), seconds)

    def _transaction(self, works: list[Work]) -> list[Any]:
        """On the writer thread: the whole group in one transaction."""
        conn = self._connection()
        writer = LedgerWriter(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [_savepoint(conn, writer, work) for work in works]
            writer.flush()
            conn.execute("COMMIT")
        except Exception as exc:  # the group as a whole failed: none of it is durable
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return [_store_error(exc) for _ in works]
        return results

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise NotReadyError("the store is not started")
        return self._conn

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

"""Read-only SQLite connections for the read API, so reads never wait on the writer.

In WAL mode a reader sees the last committed state without taking the write lock. Each
connection is used by one thread at a time: the pool hands it out, and takes it back only
when the thread is really done with it, even if the awaiting caller was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from batchrelay.errors import NotReadyError, StoreError

T = TypeVar("T")
Query = Callable[[sqlite3.Connection], T]


class ReadPool:
    def __init__(self, connect: Callable[[], sqlite3.Connection], size: int) -> None:
        self._connect = connect
        self._size = size
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="batchrelay-sqlite-reader")
        self._idle: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        self._opened = 0  # connections created, idle or in use
        self._open = False

    async def start(self) -> None:
        try:
            for _ in range(self._size):
                conn = await asyncio.wrap_future(self._executor.submit(self._connect))
                self._idle.put_nowait(conn)
                self._opened += 1
        except BaseException:
            await self._close_idle()
            raise
        self._open = True

    async def run(self, query: Query[T]) -> T:
        """``query(conn)`` on a reader thread, inside one read snapshot."""
        conn = await self._acquire()
        loop = asyncio.get_running_loop()
        done = self._executor.submit(_in_snapshot, conn, query)
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(self._idle.put_nowait, conn))
        try:
            return await asyncio.wrap_future(done)
        except sqlite3.Error as exc:
            raise StoreError(f"read failed: {exc}") from exc

    async def close(self) -> None:
        """Wait for reads in flight, then close every connection."""
        if not self._open:
            return
        self._open = False
        await self._close_idle()

    async def _acquire(self) -> sqlite3.Connection:
        if not self._open:
            raise NotReadyError("the store is not open for reads")
        conn = await self._idle.get()
        if not self._open:  # closed while we waited: give it back for close() to take
            self._idle.put_nowait(conn)
            raise NotReadyError("the store is not open for reads")
        return conn

    async def _close_idle(self) -> None:
        while self._opened:
            conn = await self._idle.get()  # waits for a read in flight to hand it back
            conn.close()
            self._opened -= 1
        self._executor.shutdown(wait=True)


def _in_snapshot(conn: sqlite3.Connection, query: Query[T]) -> T:
    """Several SELECTs see one consistent state: wrap them in a read transaction."""
    conn.execute("BEGIN")
    try:
        return query(conn)
    finally:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")  # nothing to keep: the connection is read-only

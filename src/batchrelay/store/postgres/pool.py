"""The asyncpg pool of the PostgreSQL store, and the one place its errors become ours.

Whatever asyncpg or the socket raises (the server is down, restarting, refused the
statement) leaves this module as :class:`~batchrelay.errors.StoreError`, so callers answer
503 and do not ack upstream. A connection the server dropped is replaced by the pool on a
later acquire, so the store recovers by itself once PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.errors import NotReadyError, StoreError

T = TypeVar("T")

#: What talking to PostgreSQL can raise: server errors, client-side protocol errors (a
#: closed connection), socket errors (refused, reset) and timeouts.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


def store_error(exc: BaseException, doing: str) -> StoreError:
    """``exc`` as the error callers know; a ``StoreError`` is kept as it is."""
    if isinstance(exc, StoreError):
        return exc
    error = StoreError(f"{doing} failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


class Pool:
    """Connections to one database. ``timeout`` bounds connecting and waiting for a free
    connection, so an unreachable server fails fast instead of hanging its callers."""

    def __init__(self, dsn: str, *, min_size: int, max_size: int, timeout: float) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._timeout,
            )
        except DATABASE_ERRORS as exc:
            raise store_error(exc, "connecting to PostgreSQL") from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._timeout)
            except DATABASE_ERRORS:  # a server that is gone: nothing left to close cleanly
                pool.terminate()

    @asynccontextmanager
    async def connection(self, doing: str = "a database call") -> AsyncIterator[asyncpg.Connection]:
        """A connection for the block; database errors inside it become ``StoreError``."""
        if self._pool is None:
            raise NotReadyError("the store is not open")
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                yield conn
        except DATABASE_ERRORS as exc:
            raise store_error(exc, doing) from exc

    async def read(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``query(conn)`` in one read-only snapshot, so its several SELECTs agree."""
        async with (
            self.connection("a read") as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await query(conn)

    async def transaction(
        self, change: Callable[[asyncpg.Connection], Awaitable[T]], doing: str
    ) -> T:
        """``change(conn)`` in its own read-write transaction."""
        async with self.connection(doing) as conn, conn.transaction():
            return await change(conn)

"""The outbox as the dispatcher, the dead-letter API and the CLI see it, for any store.

:class:`Outbox` is the contract; :class:`StoreOutbox` fulfils it on either store by running
that store's outbox functions (``delivery/outbox.py`` on SQLite's writer and readers,
``store/postgres_outbox.py`` on PostgreSQL). Times are microseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from types import ModuleType
from typing import Any, Protocol

from batchrelay.delivery import outbox
from batchrelay.delivery.outbox import Check, Delivery
from batchrelay.store.sqlite import SQLiteStore


class Outbox(Protocol):
    async def flush_due_groups(
        self,
        now: int,
        max_events: Callable[[str], int],
        muted: Callable[[str, str], bool],
        check: Check | None = None,
    ) -> int: ...

    async def claim_due(self, now: int, lease: int, limit: int) -> list[Delivery]: ...

    async def claim(self, ids: Sequence[str], now: int, lease: int) -> list[Delivery]: ...

    async def coalesce(
        self, deliveries: Sequence[Delivery], max_events: int, now: int
    ) -> list[str]: ...

    async def record_attempt(
        self,
        delivery: Delivery,
        outcome: str,
        now: int,
        seconds: float,
        reason: str | None = None,
        detail: str | None = None,
        next_attempt_at: int | None = None,
    ) -> None: ...

    async def postpone(self, ids: Sequence[str], until: int, now: int) -> None: ...

    async def copy_to(self, delivery: Delivery, receiver: str, now: int) -> str: ...

    async def replay(self, delivery_id: str, now: int) -> bool: ...

    async def list_deliveries(
        self, state: str | None, batch_key: str | None, limit: int, before: str
    ) -> list[dict[str, Any]]: ...

    async def recent_attempts(self, since: int) -> list[tuple[str, int]]:
        """(receiver, time) of every send attempt from ``since`` on, oldest first."""

    async def depth(self) -> dict[str, int]: ...


class StoreOutbox:
    """:class:`Outbox` on a store: each change through the store's ``write``, each read
    through its ``read``, running the functions of ``sql`` — ``delivery/outbox.py`` on
    SQLite, ``store/postgres_outbox.py`` on PostgreSQL (the same names and semantics)."""

    def __init__(self, store: Any, sql: ModuleType) -> None:
        self._write, self._read, self._sql = store.write, store.read, sql

    async def flush_due_groups(
        self,
        now: int,
        max_events: Callable[[str], int],
        muted: Callable[[str, str], bool],
        check: Check | None = None,
    ) -> int:
        flush = self._sql.flush_due_groups
        return await self._write(  # type: ignore[no-any-return]
            partial(flush, now=now, max_events=max_events, muted=muted, check=check)
        )

    async def claim_due(self, now: int, lease: int, limit: int) -> list[Delivery]:
        return await self._write(  # type: ignore[no-any-return]
            partial(self._sql.claim_due, now=now, lease=lease, limit=limit)
        )

    async def claim(self, ids: Sequence[str], now: int, lease: int) -> list[Delivery]:
        return await self._write(  # type: ignore[no-any-return]
            partial(self._sql.claim, ids=ids, now=now, lease=lease)
        )

    async def coalesce(
        self, deliveries: Sequence[Delivery], max_events: int, now: int
    ) -> list[str]:
        return await self._write(  # type: ignore[no-any-return]
            partial(self._sql.coalesce, deliveries=deliveries, max_events=max_events, now=now)
        )

    async def record_attempt(
        self,
        delivery: Delivery,
        outcome: str,
        now: int,
        seconds: float,
        reason: str | None = None,
        detail: str | None = None,
        next_attempt_at: int | None = None,
    ) -> None:
        await self._write(
            partial(
                self._sql.record_attempt,
                delivery=delivery,
                outcome=outcome,
                now=now,
                seconds=seconds,
                reason=reason,
                detail=detail,
                next_attempt_at=next_attempt_at,
            )
        )

    async def postpone(self, ids: Sequence[str], until: int, now: int) -> None:
        await self._write(partial(self._sql.postpone, ids=ids, until=until, now=now))

    async def copy_to(self, delivery: Delivery, receiver: str, now: int) -> str:
        return await self._write(  # type: ignore[no-any-return]
            partial(self._sql.copy_to, delivery=delivery, receiver=receiver, now=now)
        )

    async def replay(self, delivery_id: str, now: int) -> bool:
        return await self._write(  # type: ignore[no-any-return]
            partial(self._sql.replay, delivery_id=delivery_id, now=now)
        )

    async def list_deliveries(
        self, state: str | None, batch_key: str | None, limit: int, before: str
    ) -> list[dict[str, Any]]:
        return await self._read(  # type: ignore[no-any-return]
            partial(
                self._sql.list_deliveries,
                state=state,
                batch_key=batch_key,
                limit=limit,
                before=before,
            )
        )

    async def recent_attempts(self, since: int) -> list[tuple[str, int]]:
        return await self._read(  # type: ignore[no-any-return]
            partial(self._sql.recent_attempts, since=since)
        )

    async def depth(self) -> dict[str, int]:
        return await self._read(self._sql.depth)  # type: ignore[no-any-return]


def outbox_for(store: Any) -> Outbox:
    """The outbox that lives in ``store``."""
    if isinstance(store, SQLiteStore):
        return StoreOutbox(store, outbox)
    # imported here: the PostgreSQL modules (and asyncpg) load only when that store is used
    from batchrelay.store import postgres_outbox
    from batchrelay.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        return StoreOutbox(store, postgres_outbox)
    raise TypeError(f"no outbox for a {type(store).__name__}")

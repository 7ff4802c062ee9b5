"""The :class:`~batchrelay.store.coordination.Lease` of several replicas: one row per name.

Taking, renewing and taking over are one statement: an upsert whose update applies only
when the row's lease has run out or already belongs to the caller. PostgreSQL runs
concurrent upserts of one name one after the other, each seeing the row the one before
left, so two holders never both get True for the same moment. ``now`` is the caller's
clock: the replicas' clocks must agree to well within the ``ttl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.store.contracts import SECOND

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.postgres.store import PostgresStore

__all__ = ["PostgresLease"]

_ACQUIRE = (
    "INSERT INTO leases AS l (name, holder, until, acquired_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,"
    " acquired_at = CASE WHEN l.holder = excluded.holder AND l.until > excluded.acquired_at"
    " THEN l.acquired_at ELSE excluded.acquired_at END"
    " WHERE l.until <= excluded.acquired_at OR l.holder = excluded.holder"
    " RETURNING holder"
)
_RELEASE = "UPDATE leases SET until = 0 WHERE name = $1 AND holder = $2"


class PostgresLease:
    """Leases in the ``leases`` table of a :class:`PostgresStore`'s database."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> bool:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``; True when held.

        A lease is free from its ``until`` on (a holder counts it as held only before)."""
        at, until = int(now * SECOND), int((now + ttl) * SECOND)

        async def upsert(conn: asyncpg.Connection) -> bool:
            return await conn.fetchval(_ACQUIRE, name, holder, until, at) is not None

        return await self.store.write(upsert, "taking a lease")

    async def release(self, name: str, holder: str) -> None:
        """Give ``name`` up at once if ``holder`` holds it; anyone may take it next."""

        async def clear(conn: asyncpg.Connection) -> None:
            await conn.execute(_RELEASE, name, holder)

        await self.store.write(clear, "releasing a lease")

"""Webhook subscriptions on PostgreSQL: the functions of ``store/sqlite/subscriptions.py``,
same semantics, async.

Every replica sharing the database reads the same table, so a subscription created on one
is matched by the commits of all; :func:`owe` runs inside an event's commit transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.events.models import EventBase
from batchrelay.routing import subscriptions as routing
from batchrelay.routing.tree import RouteMatch
from batchrelay.store.postgres.outbox import _new_delivery, add_obligations
from batchrelay.store.subscriptions import COLUMNS, Subscription, from_row, target_of, to_row

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.postgres.store import PostgresStore

_ATTEMPT_COLUMNS = "attempt, at, outcome, reason, detail, seconds"
_LISTED = (
    "id, state, batch_key, attempts, last_reason, last_detail, next_attempt_at, created_at,"
    " updated_at, replay_of"
)
_NAMES = [name.strip() for name in COLUMNS.split(",")]


async def owe(
    conn: asyncpg.Connection, view: dict[str, Any], matches: Sequence[RouteMatch], now: int
) -> None:
    """The obligations of ``matches`` and of every enabled subscription ``view`` matches."""
    targets = await _targets(conn)
    await add_obligations(conn, view, [*matches, *routing.matches(view, targets)], now)


async def owe_event(conn: asyncpg.Connection, event: EventBase) -> None:
    """With no route tree: the obligations of the subscriptions ``event`` matches (its view
    is made only when there are any)."""
    targets = await _targets(conn)
    if targets:
        view = event.normalized()
        await add_obligations(conn, view, routing.matches(view, targets), time.time_ns() // 1000)


async def _targets(conn: asyncpg.Connection) -> list[routing.Target]:
    rows = await conn.fetch("SELECT id, filter, kinds FROM subscriptions WHERE enabled")
    return [target_of(tuple(row)) for row in rows]


async def create(conn: asyncpg.Connection, sub: Subscription) -> None:
    marks = ", ".join(f"${i}" for i in range(1, len(_NAMES) + 1))
    await conn.execute(f"INSERT INTO subscriptions ({COLUMNS}) VALUES ({marks})", *to_row(sub))


async def get(conn: asyncpg.Connection, subscription_id: str) -> Subscription | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM subscriptions WHERE id = $1", subscription_id)
    return from_row(tuple(row)) if row else None


async def list_all(conn: asyncpg.Connection) -> list[Subscription]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM subscriptions ORDER BY created_at, id")
    return [from_row(tuple(row)) for row in rows]


async def save(conn: asyncpg.Connection, sub: Subscription) -> bool:
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(_NAMES[1:], start=2))
    status = await conn.execute(f"UPDATE subscriptions SET {sets} WHERE id = $1", *to_row(sub))
    return bool(status == "UPDATE 1")


async def delete(conn: asyncpg.Connection, subscription_id: str) -> bool:
    status = await conn.execute("DELETE FROM subscriptions WHERE id = $1", subscription_id)
    return bool(status == "DELETE 1")


async def note_attempt(conn: asyncpg.Connection, subscription_id: str, ok: bool, now: int) -> None:
    if ok:
        await conn.execute(
            "UPDATE subscriptions SET failing_since = NULL WHERE id = $1"
            " AND failing_since IS NOT NULL",
            subscription_id,
        )
    else:
        await conn.execute(
            "UPDATE subscriptions SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL",
            subscription_id,
            now,
        )


async def disable_failing(
    conn: asyncpg.Connection, since: int, reason: str, now: int
) -> list[Subscription]:
    rows = await conn.fetch(
        "UPDATE subscriptions SET enabled = FALSE, disabled_reason = $1, updated_at = $2"
        f" WHERE enabled AND failing_since <= $3 RETURNING {COLUMNS}",
        reason,
        now,
        since,
    )
    return [from_row(tuple(row)) for row in rows]


async def resume(conn: asyncpg.Connection, subscription_id: str, now: int) -> int:
    status = await conn.execute(
        "UPDATE deliveries SET next_attempt_at = $1, updated_at = $1 WHERE receiver = $2"
        " AND state = 'pending'",
        now,
        routing.receiver_of(subscription_id),
    )
    return int(status.split()[-1])


async def deliveries(
    conn: asyncpg.Connection, subscription_id: str, limit: int, before: str
) -> list[dict[str, Any]]:
    args: list[Any] = [routing.receiver_of(subscription_id), limit]
    keyset = ""
    if before:
        at, _, last_id = before.partition(":")
        args += [int(at), last_id]
        keyset = " AND (updated_at, id) < ($3, $4)"
    rows = await conn.fetch(
        f"SELECT {_LISTED} FROM deliveries WHERE receiver = $1{keyset}"
        " ORDER BY updated_at DESC, id DESC LIMIT $2",
        *args,
    )
    found = []
    for row in rows:
        item = dict(row)
        events = await conn.fetch(
            "SELECT event_id FROM outbox WHERE delivery_id = $1 ORDER BY id", item["id"]
        )
        item["event_ids"] = [e["event_id"] for e in events]
        attempts = await conn.fetch(
            f"SELECT {_ATTEMPT_COLUMNS} FROM delivery_attempts"
            " WHERE delivery_id = $1 ORDER BY attempt",
            item["id"],
        )
        item["attempt_log"] = [dict(a) for a in attempts]
        found.append(item)
    return found


async def replay(
    conn: asyncpg.Connection,
    subscription_id: str,
    batch_key: str | None,
    since: int | None,
    until: int | None,
    now: int,
) -> int:
    receiver = routing.receiver_of(subscription_id)
    args: list[Any] = [receiver]
    clauses = ["receiver = $1", "delivery_id IS NOT NULL"]
    if batch_key is not None:
        args.append(batch_key)
        clauses.append(f"batch_key = ${len(args)}")
    having = ["TRUE"]
    for value, test in ((since, ">="), (until, "<")):  # when first routed, not replayed
        if value is not None:
            args.append(value)
            having.append(f"MIN(created_at) {test} ${len(args)}")
    firsts = await conn.fetch(  # the first row of each event: a replayed one has several
        f"SELECT MIN(id) AS id FROM outbox WHERE {' AND '.join(clauses)} GROUP BY event_id"
        f" HAVING {' AND '.join(having)}"
        " ORDER BY MIN(id)",
        *args,
    )
    for first in firsts:
        copy = await conn.fetchrow(
            "INSERT INTO outbox (receiver, route, group_key, event_id, batch_key, view,"
            " created_at) SELECT receiver, route, group_key, event_id, batch_key, view, $1"
            " FROM outbox WHERE id = $2 RETURNING id, batch_key, group_key",
            now,
            first["id"],
        )
        replayed = await _new_delivery(
            conn,
            receiver,
            routing.ROUTE,
            copy["group_key"],
            [(copy["id"], copy["batch_key"])],
            "pending",
            now,
        )
        await conn.execute(  # the delivery it repeats: the first that carried the event
            "UPDATE deliveries SET replay_of = (SELECT delivery_id FROM outbox WHERE id = $1)"
            " WHERE id = $2",
            first["id"],
            replayed,
        )
    return len(firsts)


class PostgresSubscriptions:
    """The :class:`~batchrelay.store.subscriptions.Subscriptions` of a PostgresStore."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def create(self, sub: Subscription) -> None:
        await self._store.write(partial(create, sub=sub))

    async def get(self, subscription_id: str) -> Subscription | None:
        return await self._store.read(partial(get, subscription_id=subscription_id))

    async def all(self) -> list[Subscription]:
        return await self._store.read(list_all)

    async def save(self, sub: Subscription) -> bool:
        return await self._store.write(partial(save, sub=sub))

    async def delete(self, subscription_id: str) -> bool:
        return await self._store.write(partial(delete, subscription_id=subscription_id))

    async def note_attempt(self, subscription_id: str, ok: bool, now: int) -> None:
        await self._store.write(
            partial(note_attempt, subscription_id=subscription_id, ok=ok, now=now)
        )

    async def disable_failing(self, since: int, reason: str, now: int) -> list[Subscription]:
        return await self._store.write(
            partial(disable_failing, since=since, reason=reason, now=now)
        )

    async def resume(self, subscription_id: str, now: int) -> int:
        return await self._store.write(partial(resume, subscription_id=subscription_id, now=now))

    async def deliveries(
        self, subscription_id: str, limit: int, before: str
    ) -> list[dict[str, Any]]:
        return await self._store.read(
            partial(deliveries, subscription_id=subscription_id, limit=limit, before=before)
        )

    async def replay(
        self,
        subscription_id: str,
        batch_key: str | None,
        since: int | None,
        until: int | None,
        now: int,
    ) -> int:
        return await self._store.write(
            partial(
                replay,
                subscription_id=subscription_id,
                batch_key=batch_key,
                since=since,
                until=until,
                now=now,
            )
        )

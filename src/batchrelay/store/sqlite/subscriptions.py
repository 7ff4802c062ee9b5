"""Webhook subscriptions in SQL (``store/subscriptions.py``): kept, matched at commit,
their delivery log read, their events replayed.

Plain functions over a ``sqlite3.Connection``, run by :class:`SQLiteSubscriptions` on the
store's writer (changes) or read pool (reads); :func:`owe` runs inside an event's commit
transaction. Times are microseconds since the epoch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from batchrelay.events.models import EventBase
from batchrelay.routing import subscriptions as routing
from batchrelay.routing.tree import RouteMatch
from batchrelay.store.sqlite.outbox import _new_delivery, add_obligations
from batchrelay.store.subscriptions import COLUMNS, Subscription, from_row, target_of, to_row

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.sqlite.store import SQLiteStore

_ATTEMPT_COLUMNS = ("attempt", "at", "outcome", "reason", "detail", "seconds")
_LISTED = (
    "id",
    "state",
    "batch_key",
    "attempts",
    "last_reason",
    "last_detail",
    "next_attempt_at",
    "created_at",
    "updated_at",
    "replay_of",
)


def _targets(conn: sqlite3.Connection) -> list[routing.Target]:
    rows = conn.execute("SELECT id, filter, kinds FROM subscriptions WHERE enabled").fetchall()
    return [target_of(row) for row in rows]


def owe(
    conn: sqlite3.Connection, view: dict[str, Any], matches: Sequence[RouteMatch], now: int
) -> None:
    """The obligations of ``matches`` and of every enabled subscription ``view`` matches."""
    add_obligations(conn, view, [*matches, *routing.matches(view, _targets(conn))], now)


def owe_event(conn: sqlite3.Connection, event: EventBase) -> None:
    """With no route tree: the obligations of the subscriptions ``event`` matches (its view
    is made only when there are any)."""
    targets = _targets(conn)
    if targets:
        view = event.normalized()
        add_obligations(conn, view, routing.matches(view, targets), time.time_ns() // 1000)


def create(conn: sqlite3.Connection, sub: Subscription) -> None:
    conn.execute(
        f"INSERT INTO subscriptions ({COLUMNS}) VALUES ({', '.join('?' * 14)})", to_row(sub)
    )


def get(conn: sqlite3.Connection, subscription_id: str) -> Subscription | None:
    row = conn.execute(
        f"SELECT {COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
    ).fetchone()
    return from_row(row) if row else None


def list_all(conn: sqlite3.Connection) -> list[Subscription]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM subscriptions ORDER BY created_at, id")
    return [from_row(row) for row in rows.fetchall()]


def save(conn: sqlite3.Connection, sub: Subscription) -> bool:
    row = to_row(sub)
    names = [name.strip() for name in COLUMNS.split(",")][1:]
    cursor = conn.execute(
        f"UPDATE subscriptions SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
        (*row[1:], sub.id),
    )
    return cursor.rowcount == 1


def delete(conn: sqlite3.Connection, subscription_id: str) -> bool:
    cursor = conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
    return cursor.rowcount == 1


def note_attempt(conn: sqlite3.Connection, subscription_id: str, ok: bool, now: int) -> None:
    if ok:
        conn.execute(
            "UPDATE subscriptions SET failing_since = NULL WHERE id = ?"
            " AND failing_since IS NOT NULL",
            (subscription_id,),
        )
    else:
        conn.execute(
            "UPDATE subscriptions SET failing_since = ? WHERE id = ? AND failing_since IS NULL",
            (now, subscription_id),
        )


def disable_failing(
    conn: sqlite3.Connection, since: int, reason: str, now: int
) -> list[Subscription]:
    rows = conn.execute(
        "UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ?"
        f" WHERE enabled AND failing_since <= ? RETURNING {COLUMNS}",
        (reason, now, since),
    ).fetchall()
    return [from_row(row) for row in rows]


def resume(conn: sqlite3.Connection, subscription_id: str, now: int) -> int:
    cursor = conn.execute(
        "UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE receiver = ?"
        " AND state = 'pending'",
        (now, now, routing.receiver_of(subscription_id)),
    )
    return cursor.rowcount


def deliveries(
    conn: sqlite3.Connection, subscription_id: str, limit: int, before: str
) -> list[dict[str, Any]]:
    clauses, args = ["receiver = ?"], [routing.receiver_of(subscription_id)]  # type: list[str], list[Any]
    if before:
        at, _, last_id = before.partition(":")
        clauses.append("(updated_at < ? OR (updated_at = ? AND id < ?))")
        args += [int(at), int(at), last_id]
    rows = conn.execute(
        f"SELECT {', '.join(_LISTED)} FROM deliveries WHERE {' AND '.join(clauses)}"
        " ORDER BY updated_at DESC, id DESC LIMIT ?",
        [*args, limit],
    ).fetchall()
    found = []
    for row in rows:
        item = dict(zip(_LISTED, row, strict=True))
        item["event_ids"] = [
            e
            for (e,) in conn.execute(
                "SELECT event_id FROM outbox WHERE delivery_id = ? ORDER BY id", (item["id"],)
            )
        ]
        attempts = conn.execute(
            f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM delivery_attempts WHERE delivery_id = ?"
            " ORDER BY attempt",
            (item["id"],),
        ).fetchall()
        item["attempt_log"] = [dict(zip(_ATTEMPT_COLUMNS, a, strict=True)) for a in attempts]
        found.append(item)
    return found


def replay(
    conn: sqlite3.Connection,
    subscription_id: str,
    batch_key: str | None,
    since: int | None,
    until: int | None,
    now: int,
) -> int:
    receiver = routing.receiver_of(subscription_id)
    clauses, args = ["receiver = ?", "delivery_id IS NOT NULL"], [receiver]  # type: list[str], list[Any]
    if batch_key is not None:
        clauses.append("batch_key = ?")
        args.append(batch_key)
    having, times = ["1 = 1"], []  # type: list[str], list[Any]
    if since is not None:  # when the event was first routed, not when it was replayed
        having.append("MIN(created_at) >= ?")
        times.append(since)
    if until is not None:
        having.append("MIN(created_at) < ?")
        times.append(until)
    firsts = conn.execute(  # the first row of each event: a replayed one has several
        f"SELECT MIN(id) FROM outbox WHERE {' AND '.join(clauses)} GROUP BY event_id"
        f" HAVING {' AND '.join(having)}"
        " ORDER BY MIN(id)",
        [*args, *times],
    ).fetchall()
    for (outbox_id,) in firsts:
        cursor = conn.execute(
            "INSERT INTO outbox (receiver, route, group_key, event_id, batch_key, view,"
            " created_at) SELECT receiver, route, group_key, event_id, batch_key, view, ?"
            " FROM outbox WHERE id = ? RETURNING id, batch_key, group_key",
            (now, outbox_id),
        )
        copy_id, key, group_key = cursor.fetchone()
        replayed = _new_delivery(
            conn, receiver, routing.ROUTE, group_key, [(copy_id, key)], "pending", now
        )
        conn.execute(  # the delivery it repeats: the first that carried the event
            "UPDATE deliveries SET replay_of = (SELECT delivery_id FROM outbox WHERE id = ?)"
            " WHERE id = ?",
            (outbox_id, replayed),
        )
    return len(firsts)


class SQLiteSubscriptions:
    """The :class:`~batchrelay.store.subscriptions.Subscriptions` of a SQLiteStore."""

    def __init__(self, store: SQLiteStore) -> None:
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

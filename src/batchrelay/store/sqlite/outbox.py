"""The outbox in SQL: obligations written at commit, groups flushed into deliveries, and
deliveries claimed, recorded, coalesced, dead-lettered and replayed.

Plain functions over a ``sqlite3.Connection``: the store runs the writing ones on its
single writer thread (inside the event's own transaction for :func:`add_obligations`),
the reading ones on its read pool. Times are microseconds since the epoch.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from batchrelay.routing.tree import RouteMatch
from batchrelay.store.contracts import (
    SECOND,
    Attempt,
    Delivery,
    DueGroup,
    GroupFlush,
    due_groups_of,
)

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.sqlite.store import SQLiteStore


def add_obligations(
    conn: sqlite3.Connection, view: dict[str, Any], matches: Sequence[RouteMatch], now: int
) -> None:
    """Inside the commit transaction: one outbox row per matched route, group timers set.

    A group with nothing pending becomes due after ``group_wait``, or ``group_interval``
    after its last flush when that is later (Alertmanager's timers).
    """
    text = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    for m in matches:
        conn.execute(
            "INSERT INTO outbox (receiver, route, group_key, event_id, batch_key, view, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (m.receiver, m.route, m.group_key, view["event_id"], view["batch_key"], text, now),
        )
        wait, interval = int(m.group_wait * SECOND), int(m.group_interval * SECOND)
        conn.execute(
            "INSERT INTO notify_groups (receiver, route, group_key, flush_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET flush_at = COALESCE(flush_at,"
            " MAX(?, COALESCE(last_flush + ?, 0)))",
            (m.receiver, m.route, m.group_key, now + wait, now + wait, interval),
        )


def due_groups(conn: sqlite3.Connection, now: int) -> list[DueGroup]:
    """Every group due at ``now``, with its pending events (see ``Outbox.due_groups``)."""
    rows = conn.execute(
        "SELECT g.receiver, g.route, g.group_key, o.id, o.batch_key, o.view"
        " FROM notify_groups g LEFT JOIN outbox o ON o.receiver = g.receiver"
        " AND o.route = g.route AND o.group_key = g.group_key AND o.delivery_id IS NULL"
        " WHERE g.flush_at <= ? ORDER BY g.receiver, g.route, g.group_key, o.id",
        (now,),
    ).fetchall()
    return due_groups_of(rows)


def flush(conn: sqlite3.Connection, flushes: Sequence[GroupFlush], now: int) -> int:
    """Make the decided deliveries of due groups (see ``Outbox.flush``)."""
    made = 0
    for decided in flushes:
        group = decided.group
        for new in decided.deliveries:
            delivery_id = uuid.uuid4().hex
            marks = ", ".join("?" * len(new.events))
            taken = conn.execute(  # only events still pending: a flush never takes one twice
                f"UPDATE outbox SET delivery_id = ? WHERE id IN ({marks})"
                " AND delivery_id IS NULL RETURNING batch_key",
                [delivery_id, *(event.outbox_id for event in new.events)],
            ).fetchall()
            if taken:
                keys = {batch_key for (batch_key,) in taken}
                conn.execute(
                    "INSERT INTO deliveries (id, receiver, route, group_key, batch_key, state,"
                    " digest, events, next_attempt_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                    (delivery_id, group.receiver, group.route, group.group_key,
                     keys.pop() if len(keys) == 1 else None, new.state, len(taken), now, now,
                     now),
                )  # fmt: skip
                made += 1
        conn.execute(
            "UPDATE notify_groups SET last_flush = ?, flush_at = CASE WHEN EXISTS (SELECT 1"
            " FROM outbox o WHERE o.receiver = notify_groups.receiver AND o.route ="
            " notify_groups.route AND o.group_key = notify_groups.group_key AND"
            " o.delivery_id IS NULL) THEN flush_at END"
            " WHERE receiver = ? AND route = ? AND group_key = ?",
            (now, group.receiver, group.route, group.group_key),
        )
    return made


def _new_delivery(
    conn: sqlite3.Connection,
    receiver: str,
    route: str,
    group_key: str,
    rows: Sequence[tuple[int, str | None]],
    state: str,
    now: int,
    digest: bool = False,
) -> str:
    delivery_id = uuid.uuid4().hex
    batch_keys = {batch_key for _, batch_key in rows}
    batch_key = batch_keys.pop() if len(batch_keys) == 1 else None
    conn.execute(
        "INSERT INTO deliveries (id, receiver, route, group_key, batch_key, state, digest, events,"
        " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (delivery_id, receiver, route, group_key, batch_key, state, int(digest), len(rows),
         now, now, now),
    )  # fmt: skip
    conn.executemany(
        "UPDATE outbox SET delivery_id = ? WHERE id = ?", [(delivery_id, i) for i, _ in rows]
    )
    return delivery_id


_DELIVERY_COLUMNS = (
    "id, receiver, route, group_key, batch_key, digest, attempts, first_attempt_at, created_at"
)


def claim_due(conn: sqlite3.Connection, now: int, lease: int, limit: int) -> list[Delivery]:
    """Take deliveries that are due, and ones whose sender died (lease expired)."""
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE (state = 'pending' AND"
        " next_attempt_at <= ?) OR (state = 'sending' AND lease_until <= ?)"
        " ORDER BY next_attempt_at LIMIT ?",
        (now, now, limit),
    ).fetchall()
    return _lease(conn, rows, now, lease)


def claim(conn: sqlite3.Connection, ids: Sequence[str], now: int, lease: int) -> list[Delivery]:
    """Take these deliveries (just made digests) for sending."""
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id IN ({marks}) ORDER BY created_at",
        list(ids),
    ).fetchall()
    return _lease(conn, rows, now, lease)


def _lease(conn: sqlite3.Connection, rows: list[Any], now: int, lease: int) -> list[Delivery]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    marks = ",".join("?" * len(ids))
    conn.execute(
        f"UPDATE deliveries SET state = 'sending', lease_until = ?, updated_at = ?"
        f" WHERE id IN ({marks})",
        [now + lease, now, *ids],
    )
    events: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for delivery_id, view in conn.execute(  # every claimed delivery's events in one query
        f"SELECT delivery_id, view FROM outbox WHERE delivery_id IN ({marks}) ORDER BY id", ids
    ):
        events[delivery_id].append(json.loads(view))
    return [_delivery(row, events[row[0]]) for row in rows]


def _delivery(row: Any, events: list[dict[str, Any]]) -> Delivery:
    delivery_id, receiver, route, group_key, batch_key, digest, attempts, first, created = row
    return Delivery(
        id=delivery_id, receiver=receiver, route=route, group_key=group_key,
        batch_key=batch_key, digest=bool(digest), attempts=attempts, first_attempt_at=first,
        created_at=created, events=events,
    )  # fmt: skip


def events_of(conn: sqlite3.Connection, delivery_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT view FROM outbox WHERE delivery_id = ? ORDER BY id", (delivery_id,)
    ).fetchall()
    return [json.loads(view) for (view,) in rows]


def coalesce(
    conn: sqlite3.Connection, deliveries: Sequence[Delivery], max_events: int, now: int
) -> list[str]:
    """Merge ``deliveries`` (one receiver) into as few digests as ``max_events`` allows.

    The merged ones end in state ``coalesced`` pointing at their digest, so each event is
    still accounted for exactly once. Returns the digests' ids (pending, due now).
    """
    ids = [d.id for d in deliveries]
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT id, batch_key FROM outbox WHERE delivery_id IN ({marks}) ORDER BY id", ids
    ).fetchall()
    first = deliveries[0]
    digests = [
        _new_delivery(conn, first.receiver, "digest", "digest", rows[s : s + max_events],
                      "pending", now, digest=True)
        for s in range(0, len(rows), max_events)
    ]  # fmt: skip
    for delivery in deliveries:
        owner = _owner(conn, delivery.id)
        conn.execute(
            "UPDATE deliveries SET state = 'coalesced', merged_into = ?, lease_until = NULL,"
            " updated_at = ? WHERE id = ?",
            (owner, now, delivery.id),
        )
    return digests


def _owner(conn: sqlite3.Connection, old_id: str) -> str | None:
    """Which digest now holds the first event of a merged delivery."""
    row = conn.execute(
        "SELECT o.delivery_id FROM outbox o JOIN deliveries d ON d.id = o.delivery_id"
        " WHERE d.digest = 1 AND o.id = (SELECT MIN(id) FROM outbox WHERE delivery_id = ?)",
        (old_id,),
    ).fetchone()
    return row[0] if row else None


def record_attempt(
    conn: sqlite3.Connection,
    delivery: Delivery,
    outcome: str,
    now: int,
    seconds: float,
    reason: str | None = None,
    detail: str | None = None,
    next_attempt_at: int | None = None,
) -> None:
    """``outcome``: delivered, retry (with ``next_attempt_at``) or dead."""
    attempt = Attempt(delivery, outcome, now, seconds, reason, detail, next_attempt_at)
    record_attempts(conn, [attempt])


def record_attempts(conn: sqlite3.Connection, attempts: Sequence[Attempt]) -> None:
    """Each attempt's own outcome: delivered, retry (with ``next_attempt_at``) or dead."""
    conn.executemany(
        "INSERT OR REPLACE INTO delivery_attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(a.delivery.id, a.delivery.attempts + 1, a.at, a.outcome, a.reason, a.detail,
          a.seconds) for a in attempts],
    )  # fmt: skip
    conn.executemany(
        "UPDATE deliveries SET state = ?, attempts = ?, first_attempt_at = COALESCE("
        "first_attempt_at, ?), next_attempt_at = COALESCE(?, next_attempt_at), lease_until ="
        " NULL, last_reason = ?, last_detail = ?, updated_at = ? WHERE id = ?",
        [(_STATE_AFTER[a.outcome], a.delivery.attempts + 1, a.at, a.next_attempt_at, a.reason,
          a.detail, a.at, a.delivery.id) for a in attempts],
    )  # fmt: skip


_STATE_AFTER = {"delivered": "delivered", "retry": "pending", "dead": "dead"}


def postpone(conn: sqlite3.Connection, ids: Iterable[str], until: int, now: int) -> None:
    """Back to pending without counting an attempt (budget spent, breaker open)."""
    conn.executemany(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL,"
        " updated_at = ? WHERE id = ?",
        [(until, now, i) for i in ids],
    )


def copy_to(conn: sqlite3.Connection, delivery: Delivery, receiver: str, now: int) -> str:
    """A new delivery of the same events to another receiver (the fallback)."""
    rows = conn.execute(
        "SELECT id, batch_key FROM outbox WHERE delivery_id = ? ORDER BY id", (delivery.id,)
    ).fetchall()
    copies = []
    for outbox_id, _ in rows:
        cursor = conn.execute(
            "INSERT INTO outbox (receiver, route, group_key, event_id, batch_key, view,"
            " created_at) SELECT ?, route, group_key, event_id, batch_key, view, ?"
            " FROM outbox WHERE id = ?",
            (receiver, now, outbox_id),
        )
        copies.append((int(cursor.lastrowid or 0), delivery.batch_key))
    return _new_delivery(conn, receiver, delivery.route, delivery.group_key, copies,
                         "pending", now)  # fmt: skip


def replay(conn: sqlite3.Connection, delivery_id: str, now: int) -> bool:
    """A dead letter back to pending, same id (the receiver may dedup on it), fresh budget."""
    cursor = conn.execute(
        "UPDATE deliveries SET state = 'pending', attempts = 0, first_attempt_at = NULL,"
        " next_attempt_at = ?, replay_of = id, updated_at = ? WHERE id = ? AND state = 'dead'",
        (now, now, delivery_id),
    )
    return cursor.rowcount == 1


_LISTED = (
    "id", "receiver", "route", "group_key", "batch_key", "state", "digest", "events",
    "attempts", "last_reason", "last_detail", "created_at", "updated_at", "replay_of",
)  # fmt: skip


def list_deliveries(
    conn: sqlite3.Connection, state: str | None, batch_key: str | None, limit: int, before: str
) -> list[dict[str, Any]]:
    """Newest first; ``before`` is the last ``updated_at:id`` seen (keyset pagination)."""
    clauses, args = ["1 = 1"], []  # type: list[str], list[Any]
    if state:
        clauses.append("state = ?")
        args.append(state)
    if batch_key:
        clauses.append("batch_key = ?")
        args.append(batch_key)
    if before:
        at, _, last_id = before.partition(":")
        clauses.append("(updated_at < ? OR (updated_at = ? AND id < ?))")
        args += [int(at), int(at), last_id]
    rows = conn.execute(
        f"SELECT {', '.join(_LISTED)} FROM deliveries WHERE "
        + " AND ".join(clauses)
        + " ORDER BY updated_at DESC, id DESC LIMIT ?",
        [*args, limit],
    ).fetchall()
    return [dict(zip(_LISTED, row, strict=True)) for row in rows]


def recent_attempts(conn: sqlite3.Connection, since: int) -> list[tuple[str, int]]:
    """(receiver, time) of every send attempt from ``since`` on, oldest first."""
    rows = conn.execute(
        "SELECT d.receiver, a.at FROM delivery_attempts a JOIN deliveries d"
        " ON d.id = a.delivery_id WHERE a.at >= ? ORDER BY a.at",
        (since,),
    ).fetchall()
    return [(receiver, int(at)) for receiver, at in rows]


def depth(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox depth for metrics: events waiting for a group flush, deliveries waiting to send."""
    (pending_events,) = conn.execute(
        "SELECT COUNT(*) FROM outbox WHERE delivery_id IS NULL"
    ).fetchone()
    (pending,) = conn.execute(
        "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending')"
    ).fetchone()
    return {"events": int(pending_events), "deliveries": int(pending)}


class SQLiteOutbox:
    """The :class:`~batchrelay.store.contracts.Outbox` of a SQLiteStore: changes go in the
    writer's next group transaction, reads on the read pool."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def due_groups(self, now: int) -> list[DueGroup]:
        return await self._store.read(partial(due_groups, now=now))

    async def flush(self, flushes: Sequence[GroupFlush], now: int) -> int:
        return await self._store.write(partial(flush, flushes=flushes, now=now))

    async def claim_due(self, now: int, lease: int, limit: int) -> list[Delivery]:
        return await self._store.write(partial(claim_due, now=now, lease=lease, limit=limit))

    async def claim(self, ids: Sequence[str], now: int, lease: int) -> list[Delivery]:
        return await self._store.write(partial(claim, ids=ids, now=now, lease=lease))

    async def coalesce(
        self, deliveries: Sequence[Delivery], max_events: int, now: int
    ) -> list[str]:
        return await self._store.write(
            partial(coalesce, deliveries=deliveries, max_events=max_events, now=now)
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
        attempt = Attempt(delivery, outcome, now, seconds, reason, detail, next_attempt_at)
        await self.record_attempts([attempt])

    async def record_attempts(self, attempts: Sequence[Attempt]) -> None:
        if attempts:
            await self._store.write(partial(record_attempts, attempts=attempts))

    async def postpone(self, ids: Sequence[str], until: int, now: int) -> None:
        await self._store.write(partial(postpone, ids=ids, until=until, now=now))

    async def copy_to(self, delivery: Delivery, receiver: str, now: int) -> str:
        return await self._store.write(
            partial(copy_to, delivery=delivery, receiver=receiver, now=now)
        )

    async def replay(self, delivery_id: str, now: int) -> bool:
        return await self._store.write(partial(replay, delivery_id=delivery_id, now=now))

    async def list_deliveries(
        self, state: str | None, batch_key: str | None, limit: int, before: str
    ) -> list[dict[str, Any]]:
        return await self._store.read(
            partial(list_deliveries, state=state, batch_key=batch_key, limit=limit,
                    before=before)
        )  # fmt: skip

    async def recent_attempts(self, since: int) -> list[tuple[str, int]]:
        return await self._store.read(partial(recent_attempts, since=since))

    async def depth(self) -> dict[str, int]:
        return await self._store.read(depth)

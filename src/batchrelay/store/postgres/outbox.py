"""The outbox on PostgreSQL: the functions of ``store/sqlite/outbox.py``, same semantics, async.

Each takes an ``asyncpg.Connection`` and runs in a transaction of its own, or as a
savepoint inside the caller's (:func:`add_obligations` runs inside the commit transaction
of its event, from the store's commit hook). Several replicas share these tables, so:

* :func:`claim_due` picks rows with ``FOR UPDATE SKIP LOCKED``: concurrent claimers get
  disjoint deliveries, and none waits for another; a delivery whose sender died (its lease
  expired) is due again;
* :func:`flush` locks the due groups it flushes the same way, so a group is turned into
  deliveries by one replica only;
* group rows are upserted in key order, so two commits never wait for each other in a cycle.

Times are microseconds since the epoch, as in ``store/sqlite/outbox.py``;
:class:`PostgresOutbox` runs these functions behind the ``Outbox`` contract.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.routing.tree import RouteMatch
from batchrelay.store.contracts import (
    SECOND,
    Attempt,
    Delivery,
    DueGroup,
    GroupFlush,
    NewDelivery,
    due_groups_of,
)

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.postgres.store import PostgresStore

__all__ = [
    "Delivery",
    "PostgresOutbox",
    "add_obligations",
    "claim",
    "claim_due",
    "coalesce",
    "copy_to",
    "depth",
    "due_groups",
    "events_of",
    "flush",
    "list_deliveries",
    "postpone",
    "recent_attempts",
    "record_attempt",
    "record_attempts",
    "replay",
]

_DELIVERY_COLUMNS = (
    "id, receiver, route, group_key, batch_key, digest, attempts, first_attempt_at, created_at"
)


async def add_obligations(
    conn: asyncpg.Connection, view: dict[str, Any], matches: Sequence[RouteMatch], now: int
) -> None:
    """Inside the commit transaction: one outbox row per matched route, group timers set.

    A group with nothing pending becomes due after ``group_wait``, or ``group_interval``
    after its last flush when that is later (Alertmanager's timers).
    """
    if not matches:
        return
    text = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO outbox (receiver, route, group_key, event_id, batch_key, view,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(m.receiver, m.route, m.group_key, view["event_id"], view["batch_key"], text, now)
             for m in matches],
        )  # fmt: skip
        groups = sorted(matches, key=lambda m: (m.receiver, m.route, m.group_key))
        await conn.executemany(
            "INSERT INTO notify_groups (receiver, route, group_key, flush_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (receiver, route, group_key) DO UPDATE"
            " SET flush_at = COALESCE(notify_groups.flush_at,"
            " GREATEST($4, COALESCE(notify_groups.last_flush + $5, 0)))",
            [(m.receiver, m.route, m.group_key, now + int(m.group_wait * SECOND),
              int(m.group_interval * SECOND)) for m in groups],
        )  # fmt: skip


async def due_groups(conn: asyncpg.Connection, now: int) -> list[DueGroup]:
    """Every group due at ``now``, with its pending events (see ``Outbox.due_groups``)."""
    rows = await conn.fetch(
        "SELECT g.receiver, g.route, g.group_key, o.id, o.batch_key, o.view"
        " FROM notify_groups g LEFT JOIN outbox o ON o.receiver = g.receiver"
        " AND o.route = g.route AND o.group_key = g.group_key AND o.delivery_id IS NULL"
        " WHERE g.flush_at <= $1 ORDER BY g.receiver, g.route, g.group_key, o.id",
        now,
    )
    return due_groups_of(rows)


async def flush(conn: asyncpg.Connection, flushes: Sequence[GroupFlush], now: int) -> int:
    """Make the decided deliveries of due groups (see ``Outbox.flush``). Each group row is
    locked first, skipping one another replica is flushing or a commit is adding to."""
    made = 0
    async with conn.transaction():
        for decided in sorted(flushes, key=lambda f: (f.group.receiver, f.group.route,
                                                       f.group.group_key)):  # fmt: skip
            group = decided.group
            key = (group.receiver, group.route, group.group_key)
            locked = await conn.fetchval(
                "SELECT 1 FROM notify_groups WHERE receiver = $1 AND route = $2"
                " AND group_key = $3 FOR UPDATE SKIP LOCKED",
                *key,
            )
            if locked is None:
                continue
            for new in decided.deliveries:
                made += await _flushed(conn, key, new, now)
            await conn.execute(
                "UPDATE notify_groups SET last_flush = $1, flush_at = CASE WHEN EXISTS"
                " (SELECT 1 FROM outbox o WHERE o.receiver = $2 AND o.route = $3"
                " AND o.group_key = $4 AND o.delivery_id IS NULL) THEN flush_at END"
                " WHERE receiver = $2 AND route = $3 AND group_key = $4",
                now, *key,
            )  # fmt: skip
    return made


async def _flushed(
    conn: asyncpg.Connection, key: tuple[str, str, str], new: NewDelivery, now: int
) -> int:
    """One decided delivery made of the events still pending: 1, or 0 when none is."""
    delivery_id = uuid.uuid4().hex
    taken = await conn.fetch(  # only events still pending: a flush never takes one twice
        "UPDATE outbox SET delivery_id = $1 WHERE id = ANY($2::bigint[])"
        " AND delivery_id IS NULL RETURNING batch_key",
        delivery_id, [event.outbox_id for event in new.events],
    )  # fmt: skip
    if not taken:
        return 0
    keys = {row[0] for row in taken}
    await conn.execute(
        "INSERT INTO deliveries (id, receiver, route, group_key, batch_key, state, digest,"
        " events, next_attempt_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $8, $8)",
        delivery_id, *key, keys.pop() if len(keys) == 1 else None, new.state, len(taken), now,
    )  # fmt: skip
    return 1


async def _new_delivery(
    conn: asyncpg.Connection,
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
    await conn.execute(
        "INSERT INTO deliveries (id, receiver, route, group_key, batch_key, state, digest,"
        " events, next_attempt_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)",
        delivery_id, receiver, route, group_key, batch_key, state, digest, len(rows), now,
    )  # fmt: skip
    await conn.execute(
        "UPDATE outbox SET delivery_id = $1 WHERE id = ANY($2::bigint[])",
        delivery_id,
        [outbox_id for outbox_id, _ in rows],
    )
    return delivery_id


async def claim_due(conn: asyncpg.Connection, now: int, lease: int, limit: int) -> list[Delivery]:
    """Take deliveries that are due, and ones whose sender died (lease expired).

    Rows another replica is claiming right now are skipped, not waited for."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE (state = 'pending' AND"
            " next_attempt_at <= $1) OR (state = 'sending' AND lease_until <= $1)"
            " ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        return await _lease(conn, rows, now, lease)


async def claim(
    conn: asyncpg.Connection, ids: Sequence[str], now: int, lease: int
) -> list[Delivery]:
    """Take these deliveries (just made digests) for sending."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id = ANY($1::text[])"
            " ORDER BY created_at, id FOR UPDATE",
            list(ids),
        )
        return await _lease(conn, rows, now, lease)


async def _lease(
    conn: asyncpg.Connection, rows: Sequence[Any], now: int, lease: int
) -> list[Delivery]:
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    await conn.execute(
        "UPDATE deliveries SET state = 'sending', lease_until = $1, updated_at = $2"
        " WHERE id = ANY($3::text[])",
        now + lease,
        now,
        ids,
    )
    events: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in await conn.fetch(  # every claimed delivery's events in one query
        "SELECT delivery_id, view FROM outbox WHERE delivery_id = ANY($1::text[]) ORDER BY id",
        ids,
    ):
        events[row["delivery_id"]].append(json.loads(row["view"]))
    return [_delivery(row, events[row["id"]]) for row in rows]


def _delivery(row: Any, events: list[dict[str, Any]]) -> Delivery:
    delivery_id, receiver, route, group_key, batch_key, digest, attempts, first, created = row
    return Delivery(
        id=delivery_id, receiver=receiver, route=route, group_key=group_key,
        batch_key=batch_key, digest=bool(digest), attempts=attempts, first_attempt_at=first,
        created_at=created, events=events,
    )  # fmt: skip


async def events_of(conn: asyncpg.Connection, delivery_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT view FROM outbox WHERE delivery_id = $1 ORDER BY id", delivery_id
    )
    return [json.loads(row["view"]) for row in rows]


async def coalesce(
    conn: asyncpg.Connection, deliveries: Sequence[Delivery], max_events: int, now: int
) -> list[str]:
    """Merge ``deliveries`` (one receiver) into as few digests as ``max_events`` allows.

    The merged ones end in state ``coalesced`` pointing at their digest, so each event is
    still accounted for exactly once. Returns the digests' ids (pending, due now).
    """
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT id, batch_key FROM outbox WHERE delivery_id = ANY($1::text[]) ORDER BY id",
            [d.id for d in deliveries],
        )
        rows = [(row["id"], row["batch_key"]) for row in rows]
        first = deliveries[0]
        digests = [
            await _new_delivery(conn, first.receiver, "digest", "digest",
                                rows[s : s + max_events], "pending", now, digest=True)
            for s in range(0, len(rows), max_events)
        ]  # fmt: skip
        for delivery in deliveries:
            owner = await _owner(conn, delivery.id)
            await conn.execute(
                "UPDATE deliveries SET state = 'coalesced', merged_into = $1,"
                " lease_until = NULL, updated_at = $2 WHERE id = $3",
                owner, now, delivery.id,
            )  # fmt: skip
        return digests


async def _owner(conn: asyncpg.Connection, old_id: str) -> str | None:
    """Which digest now holds the first event of a merged delivery."""
    owner: str | None = await conn.fetchval(
        "SELECT o.delivery_id FROM outbox o JOIN deliveries d ON d.id = o.delivery_id"
        " WHERE d.digest AND o.id = (SELECT min(id) FROM outbox WHERE delivery_id = $1)",
        old_id,
    )
    return owner


async def record_attempt(
    conn: asyncpg.Connection,
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
    await record_attempts(conn, [attempt])


async def record_attempts(conn: asyncpg.Connection, attempts: Sequence[Attempt]) -> None:
    """Each attempt's own outcome, in one transaction (each statement pipelined)."""
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, outcome, reason, detail,"
            " seconds) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (delivery_id, attempt) DO UPDATE SET at = excluded.at,"
            " outcome = excluded.outcome, reason = excluded.reason, detail = excluded.detail,"
            " seconds = excluded.seconds",
            [(a.delivery.id, a.delivery.attempts + 1, a.at, a.outcome, a.reason, a.detail,
              a.seconds) for a in attempts],
        )  # fmt: skip
        await conn.executemany(
            "UPDATE deliveries SET state = $1, attempts = $2,"
            " first_attempt_at = COALESCE(first_attempt_at, $3),"
            " next_attempt_at = COALESCE($4, next_attempt_at), lease_until = NULL,"
            " last_reason = $5, last_detail = $6, updated_at = $3 WHERE id = $7",
            [(_STATE_AFTER[a.outcome], a.delivery.attempts + 1, a.at, a.next_attempt_at,
              a.reason, a.detail, a.delivery.id) for a in attempts],
        )  # fmt: skip


_STATE_AFTER = {"delivered": "delivered", "retry": "pending", "dead": "dead"}


async def postpone(conn: asyncpg.Connection, ids: Iterable[str], until: int, now: int) -> None:
    """Back to pending without counting an attempt (budget spent, breaker open)."""
    await conn.execute(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, lease_until = NULL,"
        " updated_at = $2 WHERE id = ANY($3::text[])",
        until,
        now,
        list(ids),
    )


async def copy_to(conn: asyncpg.Connection, delivery: Delivery, receiver: str, now: int) -> str:
    """A new delivery of the same events to another receiver (the fallback)."""
    async with conn.transaction():
        copies = await conn.fetch(
            "INSERT INTO outbox (receiver, route, group_key, event_id, batch_key, view,"
            " created_at) SELECT $1, route, group_key, event_id, batch_key, view, $2"
            " FROM outbox WHERE delivery_id = $3 ORDER BY id RETURNING id",
            receiver, now, delivery.id,
        )  # fmt: skip
        rows = sorted((row["id"], delivery.batch_key) for row in copies)
        return await _new_delivery(conn, receiver, delivery.route, delivery.group_key, rows,
                                   "pending", now)  # fmt: skip


async def replay(conn: asyncpg.Connection, delivery_id: str, now: int) -> bool:
    """A dead letter back to pending, same id (the receiver may dedup on it), fresh budget."""
    status: str = await conn.execute(
        "UPDATE deliveries SET state = 'pending', attempts = 0, first_attempt_at = NULL,"
        " next_attempt_at = $1, replay_of = id, updated_at = $1"
        " WHERE id = $2 AND state = 'dead'",
        now,
        delivery_id,
    )
    return status == "UPDATE 1"


_LISTED = (
    "id", "receiver", "route", "group_key", "batch_key", "state", "digest", "events",
    "attempts", "last_reason", "last_detail", "created_at", "updated_at", "replay_of",
)  # fmt: skip


async def list_deliveries(
    conn: asyncpg.Connection, state: str | None, batch_key: str | None, limit: int, before: str
) -> list[dict[str, Any]]:
    """Newest first; ``before`` is the last ``updated_at:id`` seen (keyset pagination)."""
    clauses, args = ["TRUE"], []  # type: list[str], list[Any]
    if state:
        args.append(state)
        clauses.append(f"state = ${len(args)}")
    if batch_key:
        args.append(batch_key)
        clauses.append(f"batch_key = ${len(args)}")
    if before:
        at, _, last_id = before.partition(":")
        args += [int(at), last_id]
        clauses.append(f"(updated_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {', '.join(_LISTED)} FROM deliveries WHERE {' AND '.join(clauses)}"
        f" ORDER BY updated_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    # digest as 0/1, as the SQLite outbox lists it: the API shows the same JSON either way
    return [{**dict(row), "digest": int(row["digest"])} for row in rows]


async def recent_attempts(conn: asyncpg.Connection, since: int) -> list[tuple[str, int]]:
    """(receiver, time) of every send attempt from ``since`` on, oldest first."""
    rows = await conn.fetch(
        "SELECT d.receiver, a.at FROM delivery_attempts a JOIN deliveries d"
        " ON d.id = a.delivery_id WHERE a.at >= $1 ORDER BY a.at",
        since,
    )
    return [(row["receiver"], int(row["at"])) for row in rows]


async def depth(conn: asyncpg.Connection) -> dict[str, int]:
    """Outbox depth for metrics: events waiting for a group flush, deliveries waiting to send."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM outbox WHERE delivery_id IS NULL) AS events,"
        " (SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')) AS deliveries"
    )
    return {"events": int(row["events"]), "deliveries": int(row["deliveries"])}


class PostgresOutbox:
    """The :class:`~batchrelay.store.contracts.Outbox` of a PostgresStore: each change in a
    transaction of its own, each read in one read-only snapshot."""

    def __init__(self, store: PostgresStore) -> None:
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

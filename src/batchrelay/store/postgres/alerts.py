"""Alert state in the PostgreSQL store (tables of ``postgres/migrations/0003``); see
``store/contracts.py``. The same rows and JSON as ``store/sqlite/alerts.py``.

Lock order: :func:`mark_dirty` runs inside a commit, which already holds the advisory
lock of the event's batch, so two commits that mark the same batch queue on that lock
before they touch its ``alert_dirty`` row. :meth:`PostgresAlertStore.apply` writes its
notices' group rows before it clears dirty marks, the order in which the commit hooks
(router, then dirty mark) take them; should two transactions still meet in a cycle,
PostgreSQL aborts one and ``apply`` runs again.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import structlog

from batchrelay.errors import StoreError
from batchrelay.events.models import EventBase
from batchrelay.routing.silences import Silence
from batchrelay.store.base import BatchView
from batchrelay.store.contracts import RESOLVING_STATES, AlertState, Changes, DigestFacts
from batchrelay.store.postgres import queries
from batchrelay.store.postgres.subscriptions import owe
from batchrelay.store.row_codec import EVENT_COLUMNS, event_from_journal, media_urls, to_us

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.postgres.store import PostgresStore

__all__ = ["PostgresAlertStore", "mark_dirty"]

log = structlog.get_logger(__name__)

#: How often :meth:`PostgresAlertStore.apply` runs again after a deadlock or
#: serialization failure, before the error reaches the evaluator (which repeats the pass).
APPLY_ATTEMPTS = 3
#: ICE jobs read at a time for a completion digest's media URLs.
MEDIA_PAGE = 200


async def mark_dirty(conn: asyncpg.Connection, event: EventBase) -> None:
    """Commit hook: note that ``event``'s batch changed, inside the event's transaction."""
    if event.batch_key:
        await conn.execute(
            "INSERT INTO alert_dirty (batch_key, seq) VALUES ($1, 0)"
            " ON CONFLICT (batch_key) DO UPDATE SET seq = alert_dirty.seq + 1",
            event.batch_key,
        )


class PostgresAlertStore:
    """:class:`~batchrelay.store.contracts.AlertStore` on a :class:`PostgresStore`: changes in
    a transaction of their own, reads in one read-only snapshot each."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def dirty(self, limit: int = 5000) -> dict[str, int]:
        """Batches changed since their last evaluation, with their mark counters."""
        rows = await self.store.read(
            lambda c: c.fetch("SELECT batch_key, seq FROM alert_dirty LIMIT $1", limit)
        )
        return {key: seq for key, seq in rows}

    async def watched_batches(self) -> list[str]:
        """What the timer looks at: batches that can still change state, and batches with
        an alert that is not resolved."""
        rows = await self.store.read(
            lambda c: c.fetch(
                "SELECT batch_key FROM batches WHERE state <> ALL($1::text[])"
                " UNION SELECT batch_key FROM alerts WHERE status <> 'resolved'",
                sorted(RESOLVING_STATES),
            )
        )
        return [key for (key,) in rows]

    async def batches(self, keys: Iterable[str]) -> list[BatchView]:
        wanted = list(keys)
        return await self.store.read(lambda c: queries.get_batches(c, wanted))

    async def states(self, keys: Iterable[str]) -> dict[tuple[str, str], AlertState]:
        wanted = list(keys)
        rows = await self.store.read(
            lambda c: c.fetch("SELECT state FROM alerts WHERE batch_key = ANY($1::text[])", wanted)
        )
        found = (AlertState.from_dict(json.loads(text)) for (text,) in rows)
        return {(state.rule, state.batch_key): state for state in found}

    async def alerts(
        self,
        status: str | None = None,
        batch_key: str | None = None,
        rule: str | None = None,
        limit: int = 1000,
    ) -> list[AlertState]:
        """Newest first, filtered."""
        clauses: list[str] = ["TRUE"]
        args: list[object] = []
        for column, value in (("status", status), ("batch_key", batch_key), ("rule", rule)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        args.append(limit)
        # COLLATE "C": ties in byte order, as SQLite sorts them
        sql = (f"SELECT state FROM alerts WHERE {' AND '.join(clauses)} ORDER BY updated_at"
               f' DESC, rule COLLATE "C", batch_key COLLATE "C" LIMIT ${len(args)}')  # fmt: skip
        rows = await self.store.read(lambda c: c.fetch(sql, *args))
        return [AlertState.from_dict(json.loads(text)) for (text,) in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        """(rule, status) -> number of alerts, for the metrics."""
        sql = "SELECT rule, status, count(*) FROM alerts GROUP BY rule, status"
        rows = await self.store.read(lambda c: c.fetch(sql))
        return {(rule, status): n for rule, status, n in rows}

    async def silences(self, ended_after: datetime | None = None) -> list[Silence]:
        """Silences that end after ``ended_after`` (all when None), newest first."""
        after = to_us(ended_after) if ended_after is not None else -1
        rows = await self.store.read(
            lambda c: c.fetch(
                "SELECT data FROM silences WHERE ends_at > $1"
                ' ORDER BY created_at DESC, id COLLATE "C"',
                after,
            )
        )
        return [Silence.from_dict(json.loads(text)) for (text,) in rows]

    async def silence(self, silence_id: str) -> Silence | None:
        text = await self.store.read(
            lambda c: c.fetchval("SELECT data FROM silences WHERE id = $1", silence_id)
        )
        return Silence.from_dict(json.loads(text)) if text is not None else None

    async def put_silence(self, silence: Silence, now: datetime) -> None:
        await self.store.write(lambda c: _put_silences(c, [silence], to_us(now)), "a silence")

    async def digested(self, keys: Iterable[str]) -> dict[str, int]:
        """batch_key -> the finish (microseconds) its last digest reported."""
        wanted = list(keys)
        if not wanted:
            return {}
        rows = await self.store.read(
            lambda c: c.fetch(
                "SELECT batch_key, finished_at FROM batch_digests"
                " WHERE batch_key = ANY($1::text[])",
                wanted,
            )
        )
        return {key: finished for key, finished in rows}

    async def digest_facts(self, batch_key: str, limit: int) -> DigestFacts:
        return await self.store.read(lambda c: _digest_facts(c, batch_key, limit))

    async def apply(self, changes: Changes, now: datetime) -> None:
        if not changes:
            return
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            try:
                await self.store.write(lambda c: _apply(c, changes, to_us(now)), "an alert pass")
                return
            except StoreError as exc:
                victim = isinstance(exc.__cause__, asyncpg.TransactionRollbackError)
                if not victim or attempt == APPLY_ATTEMPTS:
                    raise
                log.info("alerts.apply_retried", reason=type(exc.__cause__).__name__)


async def _digest_facts(conn: asyncpg.Connection, batch_key: str, limit: int) -> DigestFacts:
    failed = await conn.fetch(
        "SELECT object_path, task_id, code, message FROM tasks"
        " WHERE batch_key = $1 AND status = 'failed' ORDER BY status_time, task_id LIMIT $2",
        batch_key,
        limit,
    )
    # the produced media is in the journaled model of each job's status event: read a
    # page of jobs at a time until enough of them named one
    urls: list[str] = []
    for offset in itertools.count(0, MEDIA_PAGE):
        jobs = await conn.fetch(
            f"SELECT {EVENT_COLUMNS} FROM tasks t"
            " JOIN events e ON e.event_id = t.event_id WHERE t.batch_key = $1"
            " AND t.status = 'succeeded' AND e.kind = 'ice_job'"
            " ORDER BY t.status_time, t.task_id LIMIT $2 OFFSET $3",
            batch_key, MEDIA_PAGE, offset,
        )  # fmt: skip
        urls += media_urls(map(event_from_journal, jobs), limit - len(urls))
        if len(urls) >= limit or len(jobs) < MEDIA_PAGE:
            break
    return DigestFacts(
        failed=[
            {"object_path": p or "", "task_id": t, "code": c, "message": m} for p, t, c, m in failed
        ],
        media_urls=urls,
    )


async def _put_silences(conn: asyncpg.Connection, silences: list[Silence], now: int) -> None:
    if silences:
        await conn.executemany(
            "INSERT INTO silences (id, data, ends_at, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO UPDATE SET data = excluded.data,"
            " ends_at = excluded.ends_at, updated_at = excluded.updated_at",
            [(s.id, json.dumps(s.to_dict()), to_us(s.ends_at), now) for s in silences],
        )


async def _apply(conn: asyncpg.Connection, changes: Changes, now: int) -> None:
    """Everything of one pass, inside the caller's transaction; rows in key order."""
    saved = sorted(changes.saved, key=lambda s: (s.rule, s.batch_key))
    await _many(
        conn,
        "INSERT INTO alerts (rule, batch_key, status, state, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (rule, batch_key) DO UPDATE"
        " SET status = excluded.status, state = excluded.state, updated_at = excluded.updated_at",
        [(s.rule, s.batch_key, s.status, json.dumps(s.to_dict()), now) for s in saved],
    )
    await _many(
        conn,
        "DELETE FROM alerts WHERE rule = $1 AND batch_key = $2",
        sorted(changes.forgotten),
    )
    for notice in changes.notices:
        await owe(conn, notice.view, notice.matches, now)
    await _many(
        conn,
        "INSERT INTO batch_digests (batch_key, finished_at, sent_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (batch_key) DO UPDATE SET finished_at = excluded.finished_at,"
        " sent_at = excluded.sent_at",
        sorted((key, to_us(finished), now) for key, finished in changes.digests),
    )
    await _put_silences(conn, sorted(changes.silences, key=lambda s: s.id), now)
    # only the marks this pass read: a mark an event re-set meanwhile has another seq
    await _many(
        conn,
        "DELETE FROM alert_dirty WHERE batch_key = $1 AND seq = $2",
        sorted(changes.cleaned.items()),
    )


async def _many(conn: asyncpg.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        await conn.executemany(sql, rows)

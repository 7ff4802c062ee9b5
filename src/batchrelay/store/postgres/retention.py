"""Retention on PostgreSQL: batched deletes by indexed time, each its own short transaction.

A step reads at most ``limit`` ids by an index range and deletes them by primary key, so
it holds no lock a commit waits for, except the one batch whose journal it prunes: it
takes that batch's lock as a commit does (``ledger_sql.lock_batches``), so no event of the
batch is committed between its snapshot and the delete. Space freed by deletes is reused
by the table (autovacuum); sizes come from ``pg_total_relation_size``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.store.contracts import RETAINED, Cutoffs, TableStats
from batchrelay.store.journal_codec import task_id_of
from batchrelay.store.postgres.ledger_sql import lock_batches, read_batches
from batchrelay.store.row_codec import (
    BATCH_FIELDS,
    BATCH_STATE_COLUMNS,
    SNAPSHOT_BATCH_UPSERT,
    SNAPSHOT_TASK_UPSERT,
    TASK_COLUMNS,
    from_us,
    snapshot_row,
)

if TYPE_CHECKING:
    from batchrelay.store.postgres.store import PostgresStore

T = TypeVar("T")

#: Batches one step looks at, at most, while looking for a journal to prune.
SCAN_BATCHES = 256

_SNAPSHOT_BATCH = (
    f"INSERT INTO batch_snapshots ({BATCH_STATE_COLUMNS}) VALUES "
    f"({', '.join(f'${n}' for n in range(1, len(BATCH_FIELDS) + 1))}) " + SNAPSHOT_BATCH_UPSERT
)
_SNAPSHOT_TASKS = (
    f"INSERT INTO task_snapshots ({TASK_COLUMNS}) SELECT {TASK_COLUMNS} FROM tasks"
    " WHERE task_id = ANY($1::text[]) " + SNAPSHOT_TASK_UPSERT
)
_NEXT_JOURNAL = (
    "SELECT b.batch_key, b.finished_at, b.events - coalesce(s.events, 0) FROM batches b"
    " LEFT JOIN batch_snapshots s USING (batch_key)"
    " WHERE b.finished_at IS NOT NULL AND b.finished_at < $1"
    " AND (b.finished_at, b.batch_key) > ($2, $3)"
    " ORDER BY b.finished_at, b.batch_key LIMIT $4"
)

#: (table, column of its time, or None), for ``stats``: the oldest row is the smallest.
_TIMED: dict[str, str | None] = {
    "events": "received_at", "raw_inputs": "received_at", "batches": "first_seen",
    "tasks": "first_seen", "quarantine": "received_at", "outbox": "created_at",
    "deliveries": "created_at", "delivery_attempts": "at", "alerts": "updated_at",
    "batch_actions": "at", "batch_snapshots": "first_seen", "task_snapshots": "first_seen",
}  # fmt: skip

Cursor = tuple[int, str]


class PostgresRetention:
    """Implements :class:`~batchrelay.store.contracts.Retention` for the PostgreSQL store."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._cursor: Cursor = (-1, "")  # batches looked at in this pass

    async def prune(self, cutoffs: Cutoffs, limit: int) -> dict[str, int]:
        for name in RETAINED:
            cutoff = getattr(cutoffs, name)
            if cutoff is None:
                continue
            pruned = await self._prune_one(name, cutoff, limit)
            if pruned:
                return pruned
        self._cursor = (-1, "")  # the next pass starts over
        return {}

    async def _prune_one(self, name: str, cutoff: int, limit: int) -> dict[str, int]:
        if name == "events":
            step = partial(_prune_journal, cutoff=cutoff, limit=limit, cursor=self._cursor)
            pruned, self._cursor = await self._store.write(step, "pruning the journal")
            return pruned
        prune = _prune_batch if name == "batches" else _PRUNE[name]
        change: Callable[[asyncpg.Connection], Awaitable[dict[str, int]]]
        change = partial(prune, cutoff=cutoff, limit=limit)
        result: dict[str, int] = await self._store.write(change, f"pruning {name}")
        return result

    async def reclaim(self) -> int:
        return 0  # deleted rows' space is reused by the table once autovacuum has seen it

    async def sizes(self) -> dict[str, int]:
        result: dict[str, int] = await self._store.read(_sizes)
        return result

    async def stats(self) -> list[TableStats]:
        result: list[TableStats] = await self._store.read(_stats)
        return result


async def _prune_journal(
    conn: asyncpg.Connection, cutoff: int, limit: int, cursor: Cursor
) -> tuple[dict[str, int], Cursor]:
    """Up to ``limit`` journal rows of one batch finished before ``cutoff``, under the
    batch's lock: the batch and the tasks they reported snapshotted, then the rows gone."""
    rows = await conn.fetch(_NEXT_JOURNAL, cutoff, *cursor, SCAN_BATCHES)
    found, found_at = None, -1
    for batch_key, finished_at, left in rows:
        if left > 0:
            found, found_at = batch_key, finished_at
            break
        cursor = (finished_at, batch_key)
    if found is None:
        return ({} if len(rows) < SCAN_BATCHES else {"events": 0}), cursor
    await lock_batches(conn, [found])
    events = await conn.fetch(
        "SELECT seq, model, event_id FROM events WHERE batch_key = $1 LIMIT $2",
        found,
        limit,
    )
    state = (await read_batches(conn, [found]))[found]
    if state is None or not events:  # counter and journal disagree: nothing to take here
        return {"events": 0}, (found_at, found)
    await conn.execute(_SNAPSHOT_BATCH, *snapshot_row(state))
    task_ids = sorted({t for _, model, event_id in events if (t := task_id_of(model, event_id))})
    tasks = await conn.execute(_SNAPSHOT_TASKS, task_ids) if task_ids else "INSERT 0 0"
    await conn.execute("DELETE FROM events WHERE seq = ANY($1::bigint[])",
                       [row["seq"] for row in events])  # fmt: skip
    await conn.execute(
        "UPDATE batch_snapshots SET events = events + $1 WHERE batch_key = $2", len(events), found
    )
    return {"events": len(events), "task_snapshots": _count(tasks)}, cursor


def _count(status: str) -> int:
    """The row count of a command status such as ``DELETE 12`` or ``INSERT 0 12``."""
    return int(status.rsplit(" ", 1)[-1])


async def _prune_batch(conn: asyncpg.Connection, cutoff: int, limit: int) -> dict[str, int]:
    """``retention.batches``: the ledger of one batch finished before ``cutoff``, its tasks
    first (taken out of the project totals), then its journal, then its row."""
    batch_key = await conn.fetchval(
        "SELECT batch_key FROM batches WHERE finished_at IS NOT NULL AND finished_at < $1"
        " ORDER BY finished_at LIMIT 1",
        cutoff,
    )
    if batch_key is None:
        return {}
    await lock_batches(conn, [batch_key])
    task_ids = [r[0] for r in await conn.fetch(
        "SELECT task_id FROM tasks WHERE batch_key = $1 LIMIT $2", batch_key, limit)]  # fmt: skip
    if task_ids:
        await conn.execute(
            "UPDATE project_totals SET n = n - d.k FROM (SELECT coalesce(project, '') AS p,"
            " status AS s, count(*) AS k FROM tasks WHERE task_id = ANY($1::text[])"
            " GROUP BY 1, 2) AS d WHERE project = d.p AND status = d.s",
            task_ids,
        )
        await conn.execute("DELETE FROM task_snapshots WHERE task_id = ANY($1::text[])", task_ids)
        await conn.execute("DELETE FROM tasks WHERE task_id = ANY($1::text[])", task_ids)
        return {"tasks": len(task_ids)}
    deleted = await conn.execute(
        "DELETE FROM events WHERE seq IN"
        " (SELECT seq FROM events WHERE batch_key = $1 LIMIT $2)",
        batch_key, limit,
    )  # fmt: skip
    if _count(deleted):
        return {"events": _count(deleted)}
    for table in (
        "batch_error_codes",
        "batch_rollups",
        "batch_snapshots",
        "task_snapshots",
        "batches",
    ):
        await conn.execute(f"DELETE FROM {table} WHERE batch_key = $1", batch_key)
    return {"batches": 1}


def _by_time(table: str, column: str, where: str = "") -> Callable[..., Awaitable[dict[str, int]]]:
    """Prune ``table``'s rows whose ``column`` is before the cutoff, oldest first."""
    condition = f"{column} < $1" + (f" AND {where}" if where else "")
    delete = (
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table}"
        f" WHERE {condition} ORDER BY {column} LIMIT $2))"
    )

    async def prune(conn: asyncpg.Connection, cutoff: int, limit: int) -> dict[str, int]:
        n = _count(await conn.execute(delete, cutoff, limit))
        return {table: n} if n else {}

    return prune


async def _prune_deliveries(conn: asyncpg.Connection, cutoff: int, limit: int) -> dict[str, int]:
    """Finished deliveries by their last change, with their attempts and outbox rows."""
    ids = [r[0] for r in await conn.fetch(
        "SELECT id FROM deliveries WHERE updated_at < $1"
        " AND state IN ('delivered', 'dead', 'coalesced', 'muted')"
        " ORDER BY updated_at LIMIT $2", cutoff, limit)]  # fmt: skip
    if not ids:
        return {}
    pruned = {}
    for table, column in (("delivery_attempts", "delivery_id"), ("outbox", "delivery_id"),
                          ("deliveries", "id")):  # fmt: skip
        status = await conn.execute(f"DELETE FROM {table} WHERE {column} = ANY($1::text[])", ids)
        pruned[table] = _count(status)
    return pruned


_PRUNE: dict[str, Callable[..., Awaitable[dict[str, int]]]] = {
    "raw": _by_time("raw_inputs", "received_at"),
    "deliveries": _prune_deliveries,
    "quarantine": _by_time("quarantine", "received_at"),
    "alerts": _by_time("alerts", "updated_at", "status = 'resolved'"),
}


async def _tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
    )
    return [row[0] for row in rows]


async def _sizes(conn: asyncpg.Connection) -> dict[str, int]:
    sizes = {}
    for table in await _tables(conn):
        sizes[table] = int(
            await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
        )
    return sizes


async def _stats(conn: asyncpg.Connection) -> list[TableStats]:
    sizes = await _sizes(conn)
    stats = []
    for table in sizes:
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
        column = _TIMED.get(table)
        oldest = await conn.fetchval(f"SELECT min({column}) FROM {table}") if column else None
        stats.append(TableStats(table, int(rows), sizes[table],
                                from_us(oldest) if oldest is not None else None))  # fmt: skip
    return stats

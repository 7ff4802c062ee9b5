"""Retention on SQLite: pruning in small steps on the writer, space given back by
incremental vacuum, sizes from ``dbstat``.

Each step is one request to the group writer (``group_commit``): it shares one group
transaction with whatever commits are queued, so it holds ingest back by one group at
most. What a step removes is read and deleted by index ranges, never by a scan.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from batchrelay.store.contracts import RETAINED, Cutoffs, TableStats
from batchrelay.store.journal_codec import task_id_of
from batchrelay.store.row_codec import (
    BATCH_FIELDS,
    BATCH_STATE_COLUMNS,
    SNAPSHOT_BATCH_UPSERT,
    SNAPSHOT_TASK_UPSERT,
    TASK_COLUMNS,
    from_us,
    snapshot_row,
)
from batchrelay.store.sqlite.group_commit import GroupWriter
from batchrelay.store.sqlite.ledger_sql import LedgerWriter

#: Pages one :meth:`SQLiteRetention.reclaim` gives back at most (4 MiB of 4 KiB pages).
RECLAIM_PAGES = 1024
#: Batches one step looks at, at most, while looking for a journal to prune.
SCAN_BATCHES = 256

_SNAPSHOT_BATCH = (
    f"INSERT INTO batch_snapshots ({BATCH_STATE_COLUMNS}) VALUES "
    f"({', '.join('?' for _ in BATCH_FIELDS)}) " + SNAPSHOT_BATCH_UPSERT
)
_SNAPSHOT_TASKS = (
    f"INSERT INTO task_snapshots ({TASK_COLUMNS}) SELECT {TASK_COLUMNS} FROM tasks"
    " WHERE task_id IN (SELECT value FROM json_each(?)) " + SNAPSHOT_TASK_UPSERT
)
_JSON_IDS = "(SELECT value FROM json_each(?))"

#: (table, column of its time, or None), for ``stats``: the oldest row is the smallest.
_TIMED: dict[str, str | None] = {
    "events": "received_at", "raw_inputs": "received_at", "batches": "first_seen",
    "tasks": "first_seen", "quarantine": "received_at", "outbox": "created_at",
    "deliveries": "created_at", "delivery_attempts": "at", "alerts": "updated_at",
    "batch_actions": "at", "batch_snapshots": "first_seen", "task_snapshots": "first_seen",
}  # fmt: skip


class SQLiteRetention:
    """Implements :class:`~batchrelay.store.contracts.Retention` for the SQLite store."""

    def __init__(
        self, writer: GroupWriter, read: Callable[[Callable[[sqlite3.Connection], Any]], Any]
    ) -> None:
        self._writer = writer
        self._read = read
        self._cursor: tuple[int, str] = (-1, "")  # batches looked at in this pass

    async def prune(self, cutoffs: Cutoffs, limit: int) -> dict[str, int]:
        step = partial(_prune, cutoffs=cutoffs, limit=limit, cursor=self._cursor)
        pruned, self._cursor = await self._writer.submit(step, limit)
        if not pruned:
            self._cursor = (-1, "")  # the next pass starts over
        return pruned

    async def reclaim(self) -> int:
        freed: int = await self._writer.submit(_reclaim)
        return freed

    async def sizes(self) -> dict[str, int]:
        result: dict[str, int] = await self._read(_sizes)
        return result

    async def stats(self) -> list[TableStats]:
        result: list[TableStats] = await self._read(_stats)
        return result


def _prune(
    writer: LedgerWriter, cutoffs: Cutoffs, limit: int, cursor: tuple[int, str]
) -> tuple[dict[str, int], tuple[int, str]]:
    conn = writer.connection
    for name in RETAINED:
        cutoff = getattr(cutoffs, name)
        if cutoff is None:
            continue
        if name == "events":
            pruned, cursor = _prune_journal(writer, cutoff, limit, cursor)
        elif name == "batches":
            pruned = _prune_batch(writer, cutoff, limit)
        else:
            pruned = _PRUNE[name](conn, cutoff, limit)
        if pruned:
            return pruned, cursor
    return {}, cursor


# ----------------------------------------------------------------------------- the journal


@dataclass(frozen=True, slots=True)
class _Candidate:
    batch_key: str
    finished_at: int


def _next_journal(
    conn: sqlite3.Connection, cutoff: int, cursor: tuple[int, str]
) -> tuple[_Candidate | None, tuple[int, str], bool]:
    """The next batch finished before ``cutoff`` with journal rows left (its counter says
    more events than its snapshot has pruned), after ``cursor``; and whether the scan of
    this step reached the end."""
    rows = conn.execute(
        "SELECT b.batch_key, b.finished_at, b.events - coalesce(s.events, 0) FROM batches b"
        " LEFT JOIN batch_snapshots s USING (batch_key)"
        " WHERE b.finished_at IS NOT NULL AND b.finished_at < ?"
        " AND (b.finished_at, b.batch_key) > (?, ?)"
        " ORDER BY b.finished_at, b.batch_key LIMIT ?",
        (cutoff, *cursor, SCAN_BATCHES),
    ).fetchall()
    for batch_key, finished_at, left in rows:
        if left > 0:
            return _Candidate(batch_key, finished_at), cursor, False
        cursor = (finished_at, batch_key)
    return None, cursor, len(rows) < SCAN_BATCHES


def _prune_journal(
    writer: LedgerWriter, cutoff: int, limit: int, cursor: tuple[int, str]
) -> tuple[dict[str, int], tuple[int, str]]:
    """Up to ``limit`` journal rows of one batch finished before ``cutoff``: the batch and
    the tasks they reported are snapshotted first (their rows as this transaction sees
    them, so the snapshot holds every effect of what is deleted), then the rows go."""
    conn = writer.connection
    found, cursor, done = _next_journal(conn, cutoff, cursor)
    if found is None:
        return ({} if done else {"events": 0}), cursor
    rows = conn.execute(
        "SELECT seq, model, event_id FROM events WHERE batch_key = ? LIMIT ?",
        (found.batch_key, limit),
    ).fetchall()
    state = writer.batch_state(found.batch_key)
    if state is None or not rows:  # counter and journal disagree: nothing to take here
        return {"events": 0}, (found.finished_at, found.batch_key)
    conn.execute(_SNAPSHOT_BATCH, snapshot_row(state))
    task_ids = sorted({t for _, model, event_id in rows if (t := task_id_of(model, event_id))})
    tasks = conn.execute(_SNAPSHOT_TASKS, (_json(task_ids),)).rowcount if task_ids else 0
    conn.execute(f"DELETE FROM events WHERE seq IN {_JSON_IDS}", (_json([r[0] for r in rows]),))
    conn.execute(
        "UPDATE batch_snapshots SET events = events + ? WHERE batch_key = ?",
        (len(rows), found.batch_key),
    )
    return {"events": len(rows), "task_snapshots": tasks}, cursor


# ----------------------------------------------------------------------------- the ledger


def _prune_batch(writer: LedgerWriter, cutoff: int, limit: int) -> dict[str, int]:
    """``retention.batches``: the ledger of one batch finished before ``cutoff``, its tasks
    first (``limit`` at a time, taken out of the project totals), then its journal, then
    its row, error codes and snapshots."""
    conn = writer.connection
    found = conn.execute(
        "SELECT batch_key FROM batches WHERE finished_at IS NOT NULL AND finished_at < ?"
        " ORDER BY finished_at LIMIT 1",
        (cutoff,),
    ).fetchone()
    if found is None:
        return {}
    (batch_key,) = found
    task_ids = [t for (t,) in conn.execute(
        "SELECT task_id FROM tasks WHERE batch_key = ? LIMIT ?", (batch_key, limit))]  # fmt: skip
    if task_ids:
        ids = _json(task_ids)
        conn.execute(
            "UPDATE project_totals SET n = n - d.k FROM (SELECT coalesce(project, '') AS p,"
            f" status AS s, count(*) AS k FROM tasks WHERE task_id IN {_JSON_IDS}"
            " GROUP BY 1, 2) AS d WHERE project = d.p AND status = d.s",
            (ids,),
        )
        conn.execute(f"DELETE FROM task_snapshots WHERE task_id IN {_JSON_IDS}", (ids,))
        conn.execute(f"DELETE FROM tasks WHERE task_id IN {_JSON_IDS}", (ids,))
        return {"tasks": len(task_ids)}
    seqs = [s for (s,) in conn.execute(
        "SELECT seq FROM events WHERE batch_key = ? LIMIT ?", (batch_key, limit))]  # fmt: skip
    if seqs:
        conn.execute(f"DELETE FROM events WHERE seq IN {_JSON_IDS}", (_json(seqs),))
        return {"events": len(seqs)}
    for table in (
        "batch_error_codes",
        "batch_rollups",
        "batch_snapshots",
        "task_snapshots",
        "batches",
    ):
        conn.execute(f"DELETE FROM {table} WHERE batch_key = ?", (batch_key,))
    writer.forget_batch(batch_key)
    return {"batches": 1}


# ----------------------------------------------------------------------------- by time


def _by_time(table: str, column: str, where: str = "") -> Callable[..., dict[str, int]]:
    """Prune ``table``'s rows whose ``column`` is before the cutoff, oldest first."""
    condition = f"{column} < ?" + (f" AND {where}" if where else "")
    select = f"SELECT rowid FROM {table} WHERE {condition} ORDER BY {column} LIMIT ?"

    def prune(conn: sqlite3.Connection, cutoff: int, limit: int) -> dict[str, int]:
        ids = [i for (i,) in conn.execute(select, (cutoff, limit))]
        if ids:
            conn.execute(f"DELETE FROM {table} WHERE rowid IN {_JSON_IDS}", (_json(ids),))
        return {table: len(ids)} if ids else {}

    return prune


def _by_arrival(table: str) -> Callable[..., dict[str, int]]:
    """Prune ``table``'s rows received before the cutoff, read in id order: ids follow
    arrival, so the oldest come first with no index on ``received_at`` to keep (a row that
    arrived out of order, its clock behind, waits for the rows before it)."""
    select = (
        f"SELECT id FROM (SELECT id, received_at FROM {table} ORDER BY id LIMIT ?)"
        " WHERE received_at < ?"
    )

    def prune(conn: sqlite3.Connection, cutoff: int, limit: int) -> dict[str, int]:
        ids = [i for (i,) in conn.execute(select, (limit, cutoff))]
        if ids:
            conn.execute(f"DELETE FROM {table} WHERE id IN {_JSON_IDS}", (_json(ids),))
        return {table: len(ids)} if ids else {}

    return prune


_FINISHED = "state IN ('delivered', 'dead', 'coalesced', 'muted')"


def _prune_deliveries(conn: sqlite3.Connection, cutoff: int, limit: int) -> dict[str, int]:
    """Finished deliveries by their last change, with their attempts and outbox rows."""
    ids = [i for (i,) in conn.execute(
        f"SELECT id FROM deliveries WHERE updated_at < ? AND {_FINISHED}"
        " ORDER BY updated_at LIMIT ?", (cutoff, limit))]  # fmt: skip
    if not ids:
        return {}
    pruned = {}
    for table, column in (("delivery_attempts", "delivery_id"), ("outbox", "delivery_id"),
                          ("deliveries", "id")):  # fmt: skip
        cursor = conn.execute(f"DELETE FROM {table} WHERE {column} IN {_JSON_IDS}", (_json(ids),))
        pruned[table] = cursor.rowcount
    return pruned


_PRUNE: dict[str, Callable[[sqlite3.Connection, int, int], dict[str, int]]] = {
    "raw": _by_arrival("raw_inputs"),
    "deliveries": _prune_deliveries,
    "quarantine": _by_time("quarantine", "received_at"),
    "alerts": _by_time("alerts", "updated_at", "status = 'resolved'"),
}


# ----------------------------------------------------------------------------- space


def _reclaim(writer: LedgerWriter) -> int:
    conn = writer.connection
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    conn.execute(f"PRAGMA incremental_vacuum({RECLAIM_PAGES})").fetchall()
    (left,) = conn.execute("PRAGMA freelist_count").fetchone()
    return int(free - left)


def _sizes(conn: sqlite3.Connection) -> dict[str, int]:
    """Bytes by table, its indexes counted with it (``dbstat`` reads every page's header)."""
    rows = conn.execute(
        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat AS d"
        " LEFT JOIN sqlite_schema AS m ON m.name = d.name GROUP BY 1"
    )
    return {str(table): int(size) for table, size in rows}


def _stats(conn: sqlite3.Connection) -> list[TableStats]:
    sizes = _sizes(conn)
    tables = [t for (t,) in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]  # fmt: skip
    stats = []
    for table in tables:
        (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        column = _TIMED.get(table)
        oldest = (
            conn.execute(f"SELECT min({column}) FROM {table}").fetchone()[0] if column else None
        )
        stats.append(TableStats(table, int(rows), sizes.get(table, 0),
                                from_us(oldest) if oldest is not None else None))  # fmt: skip
    return stats


def _json(values: list[Any]) -> str:
    return orjson.dumps(values).decode()

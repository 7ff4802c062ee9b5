"""Write-side SQL of the SQLite store. Used only on the writer thread, inside its transaction.

Each event costs a journal insert and, when it names a task, one primary-key read and one
upsert of the task. Batches are read once per transaction and written once at its end;
counters are summed in memory and added in SQL (``n = n + ?``), never read back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchrelay.events.models import Event
from batchrelay.store import ledger
from batchrelay.store.base import CommitOutcome, QuarantineRecord
from batchrelay.store.ledger import BatchState
from batchrelay.store.sqlite_rows import (
    BATCH_DERIVED_COLUMNS,
    BATCH_STATE_COLUMNS,
    STATUS_COLUMNS,
    TASK_COLUMNS,
    batch_from_row,
    batch_to_row,
    dumps,
    event_from_journal,
    from_us,
    status_column,
    task_from_row,
    task_to_row,
    to_us,
)

LEDGER_TABLES = ("batches", "tasks", "batch_error_codes", "project_totals")


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


def _upsert(table: str, key: str, columns: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({_placeholders(columns)}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


_JOURNAL_COLUMNS = (
    "event_id, received_at, ingress, source, type, kind, batch_key, task_id, time, view, model, raw"
)
INSERT_EVENT = (
    f"INSERT INTO events ({_JOURNAL_COLUMNS}) VALUES ({_placeholders(_JOURNAL_COLUMNS)}) "
    "ON CONFLICT (event_id) DO NOTHING"
)
SELECT_BATCH = f"SELECT {BATCH_STATE_COLUMNS} FROM batches WHERE batch_key = ?"
UPSERT_BATCH = _upsert("batches", "batch_key", f"{BATCH_STATE_COLUMNS}, {BATCH_DERIVED_COLUMNS}")
SELECT_TASK = f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?"
UPSERT_TASK = _upsert("tasks", "task_id", TASK_COLUMNS)
ADD_TASK_COUNT = {
    column: f"UPDATE batches SET {column} = {column} + ? WHERE batch_key = ?"
    for column in STATUS_COLUMNS.values()
}
ADD_ERROR_CODE = (
    "INSERT INTO batch_error_codes (batch_key, code, n) VALUES (?, ?, ?) "
    "ON CONFLICT (batch_key, code) DO UPDATE SET n = n + excluded.n"
)
ADD_PROJECT_TOTAL = (
    "INSERT INTO project_totals (project, status, n) VALUES (?, ?, ?) "
    "ON CONFLICT (project, status) DO UPDATE SET n = n + excluded.n"
)
INSERT_QUARANTINE = (
    "INSERT INTO quarantine (ingress, reason, detail, headers, raw, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An input made ready for the writer on the caller's side (serialized, times in µs)."""

    event: Event
    received_at: datetime
    row: tuple[Any, ...]  # the journal row


@dataclass(frozen=True, slots=True)
class _Pending:
    """What a transaction holds in memory until :meth:`LedgerWriter.flush`."""

    batches: dict[str, BatchState | None]  # read cache; None: not in the table
    dirty: set[str]
    counters: tuple[dict[tuple[str, str], int], ...]  # task counts, error codes, totals

    @classmethod
    def empty(cls) -> _Pending:
        return cls({}, set(), ({}, {}, {}))

    def copy(self) -> _Pending:
        counters = tuple(dict(counter) for counter in self.counters)
        return _Pending(dict(self.batches), set(self.dirty), counters)


class LedgerWriter:
    """Journal, ledger and quarantine writes on one connection, for one transaction.

    Batch rows and counters stay in memory until :meth:`flush` (called once, before
    COMMIT): a burst of events on one batch costs one batch write, not one per event.
    Journal and task rows are written at once (they are seldom touched twice in a group).
    :meth:`save` and :meth:`restore` bracket each request with its SAVEPOINT, so a failed
    request leaves neither rows nor pending memory behind.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pending = _Pending.empty()

    def save(self) -> _Pending:
        return self._pending.copy()

    def restore(self, saved: _Pending) -> None:
        self._pending = saved

    def commit(self, item: PreparedEvent) -> CommitOutcome:
        if self._conn.execute(INSERT_EVENT, item.row).rowcount == 0:
            return CommitOutcome.DUPLICATE
        self.apply(item.event, item.received_at)
        return CommitOutcome.COMMITTED

    def apply(self, event: Event, received_at: datetime) -> None:
        """The ledger effect of one journaled event; shared by commit and rebuild."""
        if event.batch_key:
            self._apply_batch(event, received_at)
        if ledger.is_task_event(event):
            self._apply_task(event)

    def quarantine(self, record: QuarantineRecord) -> int:
        row = (
            record.ingress, str(record.reason), record.detail, dumps(dict(record.headers)),
            record.raw, to_us(record.received_at),
        )  # fmt: skip
        # fetchall steps the statement to its end so nothing stays pending at COMMIT
        [(quarantine_id,)] = self._conn.execute(INSERT_QUARANTINE, row).fetchall()
        return int(quarantine_id)

    def rebuild(self) -> int:
        """Wipe the ledger and replay the journal in ``seq`` order; returns the events."""
        self._pending = _Pending.empty()  # what it held is in the journal, replayed below
        for table in LEDGER_TABLES:
            self._conn.execute(f"DELETE FROM {table}")
        replayed = 0
        journal = self._conn.execute("SELECT received_at, view, model FROM events ORDER BY seq")
        for received_at, view, model in journal:
            self.apply(event_from_journal(view, model), from_us(received_at))
            replayed += 1
        return replayed

    def flush(self) -> None:
        """Write the pending batch rows, then the counters (which update those rows)."""
        pending, self._pending = self._pending, _Pending.empty()
        batches = (pending.batches[key] for key in sorted(pending.dirty))
        self._conn.executemany(UPSERT_BATCH, [batch_to_row(b) for b in batches if b is not None])
        task_counts, error_codes, totals = pending.counters
        for (batch_key, status), n in sorted(task_counts.items()):
            if n:
                self._conn.execute(ADD_TASK_COUNT[status_column(status)], (n, batch_key))
        codes = [(key, code, n) for (key, code), n in sorted(error_codes.items()) if n]
        self._conn.executemany(ADD_ERROR_CODE, codes)
        sums = [(project, status, n) for (project, status), n in sorted(totals.items()) if n]
        self._conn.executemany(ADD_PROJECT_TOTAL, sums)

    def _batch(self, batch_key: str) -> BatchState | None:
        if batch_key not in self._pending.batches:
            row = self._conn.execute(SELECT_BATCH, (batch_key,)).fetchone()
            self._pending.batches[batch_key] = batch_from_row(row) if row else None
        return self._pending.batches[batch_key]

    def _apply_batch(self, event: Event, received_at: datetime) -> None:
        batch_key = str(event.batch_key)
        updated = ledger.apply_batch(self._batch(batch_key), event, received_at)
        self._pending.batches[batch_key] = updated
        self._pending.dirty.add(batch_key)

    def _apply_task(self, event: Event) -> None:
        row = self._conn.execute(SELECT_TASK, (event.task_id,)).fetchone()
        current = task_from_row(row) if row else None
        updated = ledger.apply_task(current, event)
        if updated != current:
            self._conn.execute(UPSERT_TASK, task_to_row(updated))
            deltas = ledger.task_deltas(current, updated)
            parts = (deltas.task_counts, deltas.error_codes, deltas.project_totals)
            for counter, delta in zip(self._pending.counters, parts, strict=True):
                for key, n in delta.items():
                    counter[key] = counter.get(key, 0) + n

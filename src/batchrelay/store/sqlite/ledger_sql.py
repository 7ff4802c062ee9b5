"""Write side of the SQLite store. Used only on the writer thread, inside its transaction.

A transaction runs *staged* (the usual case) or *immediate*:

* staged: :meth:`LedgerWriter.begin` reads, in three statements, what the group's events
  need (which of their ids are journaled already, their tasks, the batches the
  :class:`~batchrelay.store.sqlite.state_cache.BatchCache` lacks); the events are then
  deduplicated, journaled and applied in memory, and :meth:`LedgerWriter.flush` writes
  every row with a few multi-row statements just before COMMIT;
* immediate: each event is journaled, and its task read and written, as it comes, so a
  request run in its own SAVEPOINT can fail alone. The writer falls back to this when a
  staged group fails (see ``group_commit``).

In both, batch rows are written once per transaction, at flush, so a burst of events on
one batch costs one batch write; counters are summed in memory and added in SQL
(``n = n + ?``), never read back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from batchrelay.events.models import Event
from batchrelay.store import ledger
from batchrelay.store.base import ActionRecord, CommitOutcome, QuarantineRecord
from batchrelay.store.ledger import BatchState, TaskState
from batchrelay.store.rollups import Rollups
from batchrelay.store.row_codec import (
    BATCH_STATE_COLUMNS,
    EVENT_COLUMNS,
    NO_COUNTS,
    TASK_COLUMNS,
    Counter,
    PreparedEvent,
    batch_from_row,
    batch_to_row,
    counter_rows,
    counts_by_batch,
    dumps,
    event_from_journal,
    failures_json,
    from_us,
    raw_row,
    task_from_row,
    task_to_row,
    to_us,
)
from batchrelay.store.sqlite import statements as sql
from batchrelay.store.sqlite.state_cache import BatchCache

LEDGER_TABLES = ("batches", "tasks", "batch_error_codes", "project_totals")


@dataclass(frozen=True, slots=True)
class Stored:
    """What one :class:`CommitWork` stored: an outcome per event, the quarantine record's
    id, and the ids of the raw inputs its events and record reference (by body)."""

    outcomes: list[CommitOutcome]
    quarantine_id: int | None
    raw_ids: dict[bytes, int]


@dataclass(frozen=True, slots=True)
class CommitWork:
    """One caller's events for the writer, journaled and applied in order, and maybe the
    quarantine record of the same body. ``raw_ids``: raw inputs already stored (an earlier
    group of the same body), so they are referenced rather than stored again."""

    items: Sequence[PreparedEvent]
    rejected: QuarantineRecord | None = None
    raw_ids: Mapping[bytes, int] = field(default_factory=dict)

    def __call__(self, writer: LedgerWriter) -> Stored:
        writer.know_raw(self.raw_ids)
        quarantine_id = writer.quarantine(self.rejected) if self.rejected is not None else None
        outcomes = [writer.commit(item) for item in self.items]
        bodies = [item.raw for item in self.items]
        if self.rejected is not None:
            bodies.append(self.rejected.raw)
        return Stored(outcomes, quarantine_id, writer.raw_ids(bodies))


@dataclass(frozen=True, slots=True)
class _Pending:
    """What a transaction holds in memory until :meth:`LedgerWriter.flush`."""

    batches: dict[str, BatchState | None] = field(default_factory=dict)  # None: no row
    dirty: set[str] = field(default_factory=set)
    counters: tuple[Counter, Counter, Counter] = field(default_factory=lambda: ({}, {}, {}))
    # staged transactions only
    journal: list[tuple[Any, ...]] = field(default_factory=list)  # rows to insert
    journaled: set[str] = field(default_factory=set)  # ids in the journal or in `journal`
    tasks: dict[str, TaskState | None] = field(default_factory=dict)  # None: no row
    dirty_tasks: set[str] = field(default_factory=set)
    # both: the raw inputs stored (or known) in this transaction, by body
    raw_ids: dict[bytes, int] = field(default_factory=dict)
    rollups: Rollups = field(default_factory=Rollups)  # what the history gains

    def copy(self) -> _Pending:
        counters = (dict(self.counters[0]), dict(self.counters[1]), dict(self.counters[2]))
        return _Pending(
            dict(self.batches), set(self.dirty), counters,
            list(self.journal), set(self.journaled), dict(self.tasks), set(self.dirty_tasks),
            dict(self.raw_ids), self.rollups.copy(),
        )  # fmt: skip


class LedgerWriter:
    """Journal, ledger and quarantine writes on one connection, one transaction at a time.

    :meth:`begin` starts a transaction's bookkeeping, :meth:`flush` ends it (called once,
    before COMMIT), :meth:`abandon` forgets it after a rollback. :meth:`save` and
    :meth:`restore` bracket a request run in its own SAVEPOINT (immediate transactions), so
    a failed request leaves neither rows nor pending memory behind.
    """

    def __init__(self, conn: sqlite3.Connection, cache: BatchCache | None = None) -> None:
        self._conn = conn
        self._cache = cache if cache is not None else BatchCache()
        self._pending = _Pending()
        self._staged = False
        self._rolling = True

    def begin(self, works: Iterable[object] = (), *, staged: bool = False) -> None:
        """Inside BEGIN IMMEDIATE: nothing pending, a cache still true to the file and, when
        ``staged``, what the :class:`CommitWork` among ``works`` will read, read now."""
        self._pending = _Pending()
        self._staged = staged
        self._cache.check(self._conn)
        if staged:
            commits = [work for work in works if isinstance(work, CommitWork)]
            self._prefetch([item.event for work in commits for item in work.items])

    def abandon(self) -> None:
        """After ROLLBACK: what was pending is gone, and the cache may be ahead of the file."""
        self._pending = _Pending()
        self._staged = False
        self._cache.clear()

    @property
    def connection(self) -> sqlite3.Connection:
        """The write connection, for changes outside the ledger (the outbox)."""
        return self._conn

    def save(self) -> _Pending:
        return self._pending.copy()

    def restore(self, saved: _Pending) -> None:
        self._pending = saved

    # ------------------------------------------------------------------ requests

    def commit(self, item: PreparedEvent) -> CommitOutcome:
        pending = self._pending
        if self._staged:
            if item.event.event_id in pending.journaled:
                return CommitOutcome.DUPLICATE
            pending.journaled.add(item.event.event_id)
            pending.journal.append((*item.row, self._raw_id(item.raw, item.raw_row)))
        else:
            known = self._conn.execute(sql.SELECT_EVENT, (item.event.event_id,)).fetchone()
            if known is not None:
                return CommitOutcome.DUPLICATE
            row = (*item.row, self._raw_id(item.raw, item.raw_row))
            self._conn.execute(sql.INSERT_EVENT, row)
        self.apply(item.event, item.received_at)
        pending.rollups.add_event(item.event)
        return CommitOutcome.COMMITTED

    def know_raw(self, raw_ids: Mapping[bytes, int]) -> None:
        """Raw inputs stored by earlier transactions, to reference instead of storing."""
        self._pending.raw_ids.update(raw_ids)

    def raw_ids(self, bodies: Iterable[bytes]) -> dict[bytes, int]:
        """The ids of the raw inputs of ``bodies`` stored or known so far in this transaction."""
        known = self._pending.raw_ids
        return {body: known[body] for body in bodies if body in known}

    def _raw_id(self, body: bytes, row: Callable[[], tuple[Any, ...]]) -> int:
        """The raw input of ``body``: stored on first use in the transaction (only a body
        with something new to keep costs a row), referenced after that."""
        known = self._pending.raw_ids
        raw_id = known.get(body)
        if raw_id is None:
            [(raw_id,)] = self._conn.execute(sql.INSERT_RAW, row()).fetchall()
            known[body] = raw_id
        return raw_id

    def apply(self, event: Event, received_at: datetime) -> None:
        """The ledger effect of one journaled event; shared by commit and rebuild."""
        if event.batch_key:
            self._apply_batch(event, received_at)
        if ledger.is_task_event(event):
            self._apply_task(event)

    def quarantine(self, record: QuarantineRecord) -> int:
        raw_id = self._raw_id(
            record.raw, partial(raw_row, record.raw, record.ingress, record.received_at,
                                record.encoding)
        )  # fmt: skip
        row = (
            record.ingress, str(record.reason), record.detail, dumps(dict(record.headers)),
            raw_id, to_us(record.received_at), record.failed, failures_json(record.failures),
        )  # fmt: skip
        # fetchall steps the statement to its end so nothing stays pending at COMMIT
        [(quarantine_id,)] = self._conn.execute(sql.INSERT_QUARANTINE, row).fetchall()
        return int(quarantine_id)

    def record_action(self, record: ActionRecord) -> int:
        row = (record.batch_key, record.action, record.actor, record.outcome, record.detail,
               to_us(record.at))  # fmt: skip
        [(action_id,)] = self._conn.execute(sql.INSERT_ACTION, row).fetchall()
        return int(action_id)

    def rebuild(self) -> int:
        """Wipe the ledger, restore the snapshots of pruned journals, and replay the
        journal in ``seq`` order; returns the events replayed."""
        sql.INSERT_EVENTS.run(self._conn, self._pending.journal)  # the replay must see them
        # what was pending is in the journal and replayed below; replayed tasks are written
        # as they go rather than held in memory (the journal may be long)
        self._pending = _Pending()
        self._staged = False
        self._cache.clear()
        self._rolling = False  # the history's rollups are not the ledger's to recompute
        # the task search's triggers are set aside: one index rebuild at the end costs a
        # fraction of a trigger per task written (DDL is transactional: a failure restores them)
        triggers = self._conn.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'tasks'"
        ).fetchall()
        for name, _ in triggers:
            self._conn.execute(f"DROP TRIGGER {name}")
        for table in LEDGER_TABLES:
            self._conn.execute(f"DELETE FROM {table}")
        self._restore_snapshots()
        replayed = 0
        journal = self._conn.execute(
            f"SELECT e.received_at, {EVENT_COLUMNS} FROM events AS e ORDER BY e.seq"
        )
        try:
            for received_at, *event in journal:
                self.apply(event_from_journal(event), from_us(received_at))
                replayed += 1
        finally:
            self._rolling = True
        for _, create in triggers:
            self._conn.execute(create)
        self._conn.execute("INSERT INTO tasks_search (tasks_search) VALUES ('rebuild')")
        return replayed

    def _restore_snapshots(self) -> None:
        """What retention pruned, as its snapshots hold it: each batch with the events
        pruned, each task as it stood (counted as a new task is)."""
        for row in self._conn.execute(f"SELECT {BATCH_STATE_COLUMNS} FROM batch_snapshots"):
            state = batch_from_row(row)
            self._pending.batches[state.batch_key] = state
            self._pending.dirty.add(state.batch_key)
        for row in self._conn.execute(f"SELECT {TASK_COLUMNS} FROM task_snapshots"):
            task = task_from_row(row)
            self._conn.execute(sql.UPSERT_TASK, task_to_row(task))
            self._count(ledger.task_deltas(None, task))

    def batch_state(self, batch_key: str) -> BatchState | None:
        """The batch as this transaction sees it (what is pending included)."""
        return self._batch(batch_key)

    def forget_batch(self, batch_key: str) -> None:
        """The batch's row was deleted in this transaction: not to be written back."""
        self._pending.batches.pop(batch_key, None)
        self._pending.dirty.discard(batch_key)
        self._cache.forget(batch_key)

    # ------------------------------------------------------------------ end of transaction

    def flush(self) -> None:
        """Write what is pending: journal, tasks, then batches with their task counts."""
        counts = counts_by_batch(self._pending.counters[0])
        for batch_key in counts:  # a task may move the counts of a batch no event named
            if self._batch(batch_key) is not None:
                self._pending.dirty.add(batch_key)
        pending, self._pending = self._pending, _Pending()
        conn = self._conn
        sql.INSERT_EVENTS.run(conn, pending.journal)
        tasks = (pending.tasks[task_id] for task_id in sorted(pending.dirty_tasks))
        sql.UPSERT_TASKS.run(conn, [task_to_row(task) for task in tasks if task is not None])
        batches = (pending.batches[batch_key] for batch_key in sorted(pending.dirty))
        written = [batch for batch in batches if batch is not None]
        rows = [batch_to_row(b) + counts.get(b.batch_key, NO_COUNTS) for b in written]
        sql.UPSERT_BATCHES.run(conn, rows)
        _, error_codes, totals = pending.counters
        sql.ADD_ERROR_CODES.run(conn, counter_rows(error_codes))
        sql.ADD_PROJECT_TOTALS.run(conn, counter_rows(totals))
        sql.ADD_ROLLUPS.run(conn, pending.rollups.rows())
        for batch in written:  # the writer calls abandon() if COMMIT fails after this
            self._cache.put(batch)

    # ------------------------------------------------------------------ ledger

    def _prefetch(self, events: list[Event]) -> None:
        pending, conn = self._pending, self._conn
        known = conn.execute(sql.SELECT_KNOWN_EVENTS, (dumps([e.event_id for e in events]),))
        pending.journaled.update(event_id for (event_id,) in known)
        task_ids = sorted({str(e.task_id) for e in events if ledger.is_task_event(e)})
        if task_ids:
            pending.tasks.update(dict.fromkeys(task_ids))
            for row in conn.execute(sql.SELECT_TASKS, (dumps(task_ids),)):
                pending.tasks[row[0]] = task_from_row(row)
        missing = []
        for batch_key in sorted({e.batch_key for e in events if e.batch_key}):
            cached = self._cache.get(batch_key)
            pending.batches[batch_key] = cached
            if cached is None:
                missing.append(batch_key)
        if missing:
            for row in conn.execute(sql.SELECT_BATCHES, (dumps(missing),)):
                pending.batches[row[0]] = batch_from_row(row)

    def _batch(self, batch_key: str) -> BatchState | None:
        batches = self._pending.batches
        if batch_key in batches:
            return batches[batch_key]
        state = self._cache.get(batch_key)
        if state is None:
            row = self._conn.execute(sql.SELECT_BATCH, (batch_key,)).fetchone()
            state = batch_from_row(row) if row else None
        batches[batch_key] = state
        return state

    def _task(self, task_id: str) -> TaskState | None:
        tasks = self._pending.tasks
        if self._staged and task_id in tasks:
            return tasks[task_id]
        row = self._conn.execute(sql.SELECT_TASK, (task_id,)).fetchone()
        state = task_from_row(row) if row else None
        if self._staged:
            tasks[task_id] = state
        return state

    def _apply_batch(self, event: Event, received_at: datetime) -> None:
        batch_key = str(event.batch_key)
        updated = ledger.apply_batch(self._batch(batch_key), event, received_at)
        self._pending.batches[batch_key] = updated
        self._pending.dirty.add(batch_key)

    def _apply_task(self, event: Event) -> None:
        task_id = str(event.task_id)
        current = self._task(task_id)
        updated = ledger.apply_task(current, event)
        if updated == current:
            return
        if self._staged:
            self._pending.tasks[task_id] = updated
            self._pending.dirty_tasks.add(task_id)
        else:
            self._conn.execute(sql.UPSERT_TASK, task_to_row(updated))
        self._count(ledger.task_deltas(current, updated))
        if self._rolling:
            self._pending.rollups.add_task(current, updated)

    def _count(self, deltas: ledger.TaskDeltas) -> None:
        parts = (deltas.task_counts, deltas.error_codes, deltas.project_totals)
        for counter, delta in zip(self._pending.counters, parts, strict=True):
            for key, n in delta.items():
                counter[key] = counter.get(key, 0) + n

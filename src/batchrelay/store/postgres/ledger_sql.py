"""Write side of the PostgreSQL store: journal and ledger changes inside one transaction.

Several replicas may commit events of the same batch or task at the same moment, so every
read-modify-write of the ledger runs under locks, taken before anything is read:

1. the *ledger lock*, shared (``rebuild`` takes it exclusively);
2. one advisory lock per task id of the events, in one sorted pass;
3. one advisory lock per batch: the events' batches and the batches those tasks belong
   to now (a task that moves takes its count out of its old batch), sorted again.

Advisory locks rather than ``SELECT … FOR UPDATE``: a batch or task seen for the first
time has no row to lock yet. Every transaction takes its locks in the same global order
(tasks, then batches, each sorted by key), so two replicas never deadlock on them; journal
rows go in in event-id order for the same reason. Under the locks, the rows are read, the
pure rules of ``store/ledger.py`` applied in memory and the results written back with one
pipelined statement per table; counters are added in SQL (``n = n + excluded.n``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.events.models import Event
from batchrelay.store import ledger
from batchrelay.store.base import ActionRecord, CommitOutcome, QuarantineRecord
from batchrelay.store.journal_codec import JOURNAL_COLUMNS
from batchrelay.store.ledger import BatchState, TaskState
from batchrelay.store.rollups import ROLLUP_COLUMNS, Rollups
from batchrelay.store.row_codec import (
    BATCH_DERIVED_COLUMNS,
    BATCH_STATE_COLUMNS,
    EVENT_COLUMNS,
    NO_COUNTS,
    RAW_COLUMNS,
    STATUS_COLUMNS,
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

#: Called inside the commit transaction for each newly journaled event: whatever it writes
#: (notification obligations) commits or rolls back with the event.
PostgresCommitHook = Callable[[asyncpg.Connection, Event], Awaitable[None]]

LEDGER_LOCK = 0x6272_6C65_6467  # "brledg", bigint key space
TASK_LOCK, BATCH_LOCK = 0x6274, 0x6262  # class ids of the (int, int) key space
LEDGER_TABLES = ("batches", "tasks", "batch_error_codes", "project_totals")
REBUILD_CHUNK = 1000  # journal rows replayed per round trip


def _names(columns: str) -> list[str]:
    return [name.strip() for name in columns.split(",")]


def _insert(table: str, columns: str) -> str:
    marks = ", ".join(f"${n}" for n in range(1, len(_names(columns)) + 1))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def _set(columns: str, key: str) -> list[str]:
    return [f"{name} = excluded.{name}" for name in _names(columns) if name not in _names(key)]


# ----------------------------------------------------------------------------- statements

_JOURNAL_TYPES = ("text", "bigint", "text", "text", "bigint", "bytea", "bigint")
_INSERT_EVENTS = (
    f"INSERT INTO events ({JOURNAL_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_JOURNAL_TYPES, 1))
    + ") ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
_LOCK_KEYS = (
    "SELECT pg_advisory_xact_lock($1, h) FROM"
    " (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS keys"
)
_SELECT_TASKS = f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ANY($1::text[])"
_SELECT_BATCHES = f"SELECT {BATCH_STATE_COLUMNS} FROM batches WHERE batch_key = ANY($1::text[])"
_UPSERT_TASK = f"{_insert('tasks', TASK_COLUMNS)} ON CONFLICT (task_id) DO UPDATE SET " + ", ".join(
    _set(TASK_COLUMNS, "task_id")
)
_COUNT_COLUMNS = ", ".join(STATUS_COLUMNS.values())
_BATCH_COLUMNS = f"{BATCH_STATE_COLUMNS}, {BATCH_DERIVED_COLUMNS}, {_COUNT_COLUMNS}"
#: A batch row carries this transaction's count *deltas*, added to what the row holds.
_UPSERT_BATCH = (
    f"{_insert('batches', _BATCH_COLUMNS)} ON CONFLICT (batch_key) DO UPDATE SET "
    + ", ".join(
        [
            *_set(f"{BATCH_STATE_COLUMNS}, {BATCH_DERIVED_COLUMNS}", "batch_key"),
            *(f"{name} = batches.{name} + excluded.{name}" for name in STATUS_COLUMNS.values()),
        ]
    )
)
_ADD_TASK_COUNTS = (
    "UPDATE batches SET "
    + ", ".join(f"{name} = {name} + ${n}" for n, name in enumerate(STATUS_COLUMNS.values(), 2))
    + " WHERE batch_key = $1"
)
_ROLLUP_FIELDS = _names(ROLLUP_COLUMNS)
_NEWER_STATISTIC = (
    "excluded.statistic IS NOT NULL AND (r.statistic_time IS NULL OR (excluded.statistic_time,"
    " excluded.statistic_event_id) > (r.statistic_time, r.statistic_event_id))"
)
#: A rollup row carries this transaction's changes, added to what the row holds.
_ADD_ROLLUPS = (
    _insert("batch_rollups AS r", ROLLUP_COLUMNS)
    + " ON CONFLICT (batch_key, level, bucket) DO UPDATE SET "
    + ", ".join(
        [
            "last_time = greatest(r.last_time, excluded.last_time)",
            *(f"{name} = r.{name} + excluded.{name}" for name in _ROLLUP_FIELDS[4:-3]),
            *(
                f"{name} = CASE WHEN {_NEWER_STATISTIC} THEN excluded.{name} ELSE r.{name} END"
                for name in _ROLLUP_FIELDS[-3:]
            ),
        ]
    )
)
_ADD_ERROR_CODE = (
    "INSERT INTO batch_error_codes (batch_key, code, n) VALUES ($1, $2, $3)"
    " ON CONFLICT (batch_key, code) DO UPDATE SET n = batch_error_codes.n + excluded.n"
)
_ADD_PROJECT_TOTAL = (
    "INSERT INTO project_totals (project, status, n) VALUES ($1, $2, $3)"
    " ON CONFLICT (project, status) DO UPDATE SET n = project_totals.n + excluded.n"
)
_INSERT_QUARANTINE = (
    "INSERT INTO quarantine (ingress, reason, detail, headers, raw_id, received_at, failed,"
    " failures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
)
#: Ids for a group's raw inputs, reserved before the rows that reference them are written;
#: an id whose body turns out to hold nothing new is never used (a gap, nothing stored).
_RESERVE_RAW_IDS = "SELECT nextval('raw_inputs_id_seq') FROM generate_series(1, $1)"
_INSERT_RAW = (
    f"INSERT INTO raw_inputs (id, {RAW_COLUMNS}) SELECT * FROM unnest("
    "$1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::text[])"
)
_INSERT_ACTION = (
    "INSERT INTO batch_actions (batch_key, action, actor, outcome, detail, at)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
)
_SELECT_JOURNAL = (
    f"SELECT e.seq, e.received_at, {EVENT_COLUMNS} FROM events AS e"
    " WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
)


# ----------------------------------------------------------------------------- in memory


class LedgerChanges:
    """The effect of events on the task and batch rows read under the locks.

    ``tasks`` and ``batches`` hold every row the events can touch (``None``: no row yet);
    :meth:`write` stores what changed, with the counter deltas it implies.
    """

    def __init__(
        self, tasks: dict[str, TaskState | None], batches: dict[str, BatchState | None]
    ) -> None:
        self.tasks = tasks
        self.batches = batches
        self._dirty_tasks: set[str] = set()
        self._dirty_batches: set[str] = set()
        self._counters: tuple[Counter, Counter, Counter] = ({}, {}, {})
        self.rollups: Rollups | None = None  # a commit's (a rebuild leaves the history alone)

    def apply(self, event: Event, received_at: datetime) -> None:
        """The ledger effect of one journaled event; shared by commit and rebuild."""
        if event.batch_key:
            batch_key = str(event.batch_key)
            self.batches[batch_key] = ledger.apply_batch(
                self.batches.get(batch_key), event, received_at
            )
            self._dirty_batches.add(batch_key)
        if ledger.is_task_event(event):
            self._apply_task(event)
        if self.rollups is not None:
            self.rollups.add_event(event)

    def _apply_task(self, event: Event) -> None:
        task_id = str(event.task_id)
        current = self.tasks.get(task_id)
        updated = ledger.apply_task(current, event)
        if updated == current:
            return
        self.tasks[task_id] = updated
        self._dirty_tasks.add(task_id)
        self._count(ledger.task_deltas(current, updated))
        if self.rollups is not None:
            self.rollups.add_task(current, updated)

    def _count(self, deltas: ledger.TaskDeltas) -> None:
        parts = (deltas.task_counts, deltas.error_codes, deltas.project_totals)
        for counter, delta in zip(self._counters, parts, strict=True):
            for key, n in delta.items():
                counter[key] = counter.get(key, 0) + n

    def restore_task(self, task: TaskState) -> None:
        """A task as a snapshot holds it, on a ledger that does not have it yet."""
        self.tasks[task.task_id] = task
        self._dirty_tasks.add(task.task_id)
        self._count(ledger.task_deltas(None, task))

    def touch_batches(self) -> None:
        """Every batch held is written (restored from a snapshot)."""
        self._dirty_batches.update(key for key, state in self.batches.items() if state)

    def take_task_counts(self, into: Counter) -> None:
        """Move the task-count deltas out, to be added later (see :func:`rebuild`)."""
        task_counts = self._counters[0]
        for key, n in task_counts.items():
            into[key] = into.get(key, 0) + n
        task_counts.clear()

    async def write(self, conn: asyncpg.Connection) -> None:
        """Tasks, then batches with their count deltas, then the counters; each sorted."""
        task_counts, error_codes, totals = self._counters
        counts = counts_by_batch(task_counts)
        # a task may move the counts of a batch no event named (its old batch)
        dirty = self._dirty_batches | {key for key in counts if self.batches.get(key)}
        tasks = [self.tasks[task_id] for task_id in sorted(self._dirty_tasks)]
        await _run_many(conn, _UPSERT_TASK, [task_to_row(t) for t in tasks if t is not None])
        batches = [self.batches[key] for key in sorted(dirty)]
        rows = [
            batch_to_row(b) + counts.get(b.batch_key, NO_COUNTS) for b in batches if b is not None
        ]
        await _run_many(conn, _UPSERT_BATCH, rows)
        await _run_many(conn, _ADD_ERROR_CODE, counter_rows(error_codes))
        await _run_many(conn, _ADD_PROJECT_TOTAL, counter_rows(totals))
        if self.rollups:
            await _run_many(conn, _ADD_ROLLUPS, self.rollups.rows())


async def _run_many(conn: asyncpg.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:  # executemany pipelines the rows: one round trip, not one per row
        await conn.executemany(sql, rows)


# ----------------------------------------------------------------------------- locks, reads


async def lock_ledger(conn: asyncpg.Connection, *, exclusive: bool = False) -> None:
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {function}($1)", LEDGER_LOCK)


async def _lock(conn: asyncpg.Connection, kind: int, keys: Iterable[str]) -> None:
    await conn.execute(_LOCK_KEYS, kind, list(keys))


async def lock_batches(conn: asyncpg.Connection, batch_keys: Iterable[str]) -> None:
    """The locks a commit takes on these batches (with the ledger lock, shared): a
    transaction holding them sees no commit to them until it ends."""
    await lock_ledger(conn)
    await _lock(conn, BATCH_LOCK, sorted(batch_keys))


async def lock_and_read(conn: asyncpg.Connection, events: Sequence[Event]) -> LedgerChanges:
    """Take the locks for ``events`` (see the module doc) and read the rows they touch.

    Taking them again later in the same transaction costs nothing (they are re-entrant)."""
    await lock_ledger(conn)
    changes = await _read(conn, events, lock=True)
    changes.rollups = Rollups()
    return changes


async def _read(conn: asyncpg.Connection, events: Iterable[Event], *, lock: bool) -> LedgerChanges:
    """The rows ``events`` touch: their tasks, their batches and the tasks' batches."""
    events = list(events)
    task_ids = sorted({str(e.task_id) for e in events if ledger.is_task_event(e)})
    if lock:
        await _lock(conn, TASK_LOCK, task_ids)
    tasks = await read_tasks(conn, task_ids)
    batch_keys = {str(e.batch_key) for e in events if e.batch_key}
    batch_keys |= {str(task.batch_key) for task in tasks.values() if task and task.batch_key}
    if lock:
        await _lock(conn, BATCH_LOCK, sorted(batch_keys))
    return LedgerChanges(tasks, await read_batches(conn, sorted(batch_keys)))


async def read_tasks(conn: asyncpg.Connection, task_ids: list[str]) -> dict[str, TaskState | None]:
    tasks: dict[str, TaskState | None] = dict.fromkeys(task_ids)
    if task_ids:
        for row in await conn.fetch(_SELECT_TASKS, task_ids):
            tasks[row[0]] = task_from_row(tuple(row))
    return tasks


async def read_batches(
    conn: asyncpg.Connection, batch_keys: list[str]
) -> dict[str, BatchState | None]:
    batches: dict[str, BatchState | None] = dict.fromkeys(batch_keys)
    if batch_keys:
        for row in await conn.fetch(_SELECT_BATCHES, batch_keys):
            batches[row[0]] = batch_from_row(tuple(row))
    return batches


# ----------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Stored:
    """What :func:`commit_events` stored: an outcome per item, an id per quarantine record,
    and the ids of the raw inputs the items and records reference, by body."""

    outcomes: list[CommitOutcome]
    quarantine_ids: list[int]
    raw_ids: dict[bytes, int]


async def commit_events(
    conn: asyncpg.Connection,
    items: Sequence[PreparedEvent],
    hook: PostgresCommitHook | None,
    rejected: Sequence[QuarantineRecord] = (),
    known_raw: Mapping[bytes, int] | None = None,
) -> Stored:
    """Journal ``items`` and apply the new ones, in order, and keep the ``rejected``
    records; inside the caller's transaction. Each distinct body is stored once, and only
    when something new references it; ``known_raw`` are bodies stored before."""
    raw = _RawInputs(dict(known_raw or {}))
    await raw.reserve(conn, [item.raw for item in items] + [r.raw for r in rejected])
    quarantine_ids = [await quarantine(conn, record, raw.use(record.raw)) for record in rejected]
    changes = await lock_and_read(conn, [item.event for item in items])
    new = await _journal(conn, items, raw)
    outcomes = []
    for item in items:
        if item.event.event_id in new:
            new.discard(item.event.event_id)  # a second copy in the same call is a duplicate
            raw.use(item.raw)
            changes.apply(item.event, item.received_at)
            if hook is not None:
                await hook(conn, item.event)
            outcomes.append(CommitOutcome.COMMITTED)
        else:
            outcomes.append(CommitOutcome.DUPLICATE)
    await changes.write(conn)
    await raw.write(conn, items, rejected)
    return Stored(outcomes, quarantine_ids, raw.stored())


class _RawInputs:
    """A transaction's raw inputs: ids reserved for new bodies, rows written for the used."""

    def __init__(self, known: dict[bytes, int]) -> None:
        self._known = known  # stored before this transaction
        self._ids: dict[bytes, int] = {}  # reserved now
        self._used: set[bytes] = set()

    async def reserve(self, conn: asyncpg.Connection, bodies: Sequence[bytes]) -> None:
        fresh = [body for body in dict.fromkeys(bodies) if body not in self._known]
        if fresh:
            ids = await conn.fetch(_RESERVE_RAW_IDS, len(fresh))
            self._ids = {body: row[0] for body, row in zip(fresh, ids, strict=True)}

    def id_of(self, body: bytes) -> int:
        return self._known.get(body) or self._ids[body]

    def use(self, body: bytes) -> int:
        self._used.add(body)
        return self.id_of(body)

    async def write(
        self,
        conn: asyncpg.Connection,
        items: Sequence[PreparedEvent],
        rejected: Sequence[QuarantineRecord],
    ) -> None:
        rows: dict[bytes, tuple[Any, ...]] = {}
        for item in items:
            if item.raw in self._used and item.raw in self._ids:
                rows.setdefault(item.raw, (self._ids[item.raw], *item.raw_row()))
        for record in rejected:
            if record.raw in self._ids:
                row = raw_row(record.raw, record.ingress, record.received_at, record.encoding)
                rows.setdefault(record.raw, (self._ids[record.raw], *row))
        if rows:
            columns = [list(column) for column in zip(*rows.values(), strict=True)]
            await conn.execute(_INSERT_RAW, *columns)

    def stored(self) -> dict[bytes, int]:
        return {**self._known, **{b: i for b, i in self._ids.items() if b in self._used}}


async def _journal(
    conn: asyncpg.Connection, items: Sequence[PreparedEvent], raw: _RawInputs
) -> set[str]:
    """Insert the journal rows; returns the event ids that were not journaled before."""
    rows: dict[str, tuple[Any, ...]] = {}
    for item in items:
        # the first copy wins, as in order
        rows.setdefault(item.event.event_id, (*item.row, raw.id_of(item.raw)))
    ordered = [rows[event_id] for event_id in sorted(rows)]  # one lock order for all replicas
    columns = [list(column) for column in zip(*ordered, strict=True)]
    return {row[0] for row in await conn.fetch(_INSERT_EVENTS, *columns)} if ordered else set()


async def record_action(conn: asyncpg.Connection, record: ActionRecord) -> int:
    action_id: int = await conn.fetchval(
        _INSERT_ACTION, record.batch_key, record.action, record.actor, record.outcome,
        record.detail, to_us(record.at),
    )  # fmt: skip
    return action_id


async def quarantine(conn: asyncpg.Connection, record: QuarantineRecord, raw_id: int) -> int:
    quarantine_id: int = await conn.fetchval(
        _INSERT_QUARANTINE,
        record.ingress, str(record.reason), record.detail, dumps(dict(record.headers)),
        raw_id, to_us(record.received_at), record.failed, failures_json(record.failures),
    )  # fmt: skip
    return quarantine_id


async def rebuild(conn: asyncpg.Connection) -> int:
    """Wipe the ledger, restore the snapshots of pruned journals, and replay the journal
    in ``seq`` order; returns the events replayed.

    Holds the ledger lock exclusively: commits elsewhere wait, then apply on the new ledger.
    Task counts are added to the batch rows at the end, once every batch has its row (a
    task restored from a snapshot may count in a batch only the journal brings back).
    """
    await lock_ledger(conn, exclusive=True)
    for table in LEDGER_TABLES:
        # DELETE, not TRUNCATE: readers keep reading the old ledger until this commits
        await conn.execute(f"DELETE FROM {table}")
    task_counts: Counter = {}
    await _restore_snapshots(conn, task_counts)
    replayed, last = 0, 0
    while rows := await conn.fetch(_SELECT_JOURNAL, last, REBUILD_CHUNK):
        events = [(event_from_journal(tuple(row)[2:]), from_us(row["received_at"])) for row in rows]
        changes = await _read(conn, (event for event, _ in events), lock=False)
        for event, received_at in events:
            changes.apply(event, received_at)
        changes.take_task_counts(task_counts)
        await changes.write(conn)
        replayed += len(rows)
        last = rows[-1]["seq"]
    await _add_task_counts(conn, task_counts)
    return replayed


_SELECT_SNAPSHOT_BATCHES = (
    f"SELECT {BATCH_STATE_COLUMNS} FROM batch_snapshots WHERE batch_key > $1"
    " ORDER BY batch_key LIMIT $2"
)
_SELECT_SNAPSHOT_TASKS = (
    f"SELECT {TASK_COLUMNS} FROM task_snapshots WHERE task_id > $1 ORDER BY task_id LIMIT $2"
)


async def _restore_snapshots(conn: asyncpg.Connection, task_counts: Counter) -> None:
    """What retention pruned, as its snapshots hold it: each batch with the events pruned,
    each task as it stood (counted as a new task is)."""
    last = ""
    while rows := await conn.fetch(_SELECT_SNAPSHOT_BATCHES, last, REBUILD_CHUNK):
        states = [batch_from_row(tuple(row)) for row in rows]
        changes = LedgerChanges({}, {state.batch_key: state for state in states})
        changes.touch_batches()
        await changes.write(conn)
        last = rows[-1][0]
    last = ""
    while rows := await conn.fetch(_SELECT_SNAPSHOT_TASKS, last, REBUILD_CHUNK):
        changes = LedgerChanges({}, {})
        for row in rows:
            changes.restore_task(task_from_row(tuple(row)))
        changes.take_task_counts(task_counts)
        await changes.write(conn)
        last = rows[-1][0]


async def _add_task_counts(conn: asyncpg.Connection, task_counts: Counter) -> None:
    rows = [(key, *counts) for key, counts in sorted(counts_by_batch(task_counts).items())]
    await _run_many(conn, _ADD_TASK_COUNTS, rows)

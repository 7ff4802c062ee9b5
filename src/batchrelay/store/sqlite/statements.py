"""The writer's SQL text: single-row statements, and multi-row forms for group commits.

A group commit writes its journal, task, batch and counter rows with a few multi-row
statements (:class:`Rows`) instead of one statement per row: each statement is one call
into SQLite, and each call gives up and takes back the GIL that the event loop is using.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

from batchrelay.store.journal_codec import JOURNAL_COLUMNS
from batchrelay.store.rollups import ROLLUP_COLUMNS
from batchrelay.store.row_codec import (
    BATCH_DERIVED_COLUMNS,
    BATCH_STATE_COLUMNS,
    RAW_COLUMNS,
    STATUS_COLUMNS,
    TASK_COLUMNS,
)

#: Rows per multi-row statement, at most (SQLite's variable limit may lower it).
MAX_ROWS = 64
#: Prepared statements the writer's connection keeps: every row count of each
#: :class:`Rows` below, and the single statements.
STATEMENTS = 7 * MAX_ROWS


def _names(columns: str) -> list[str]:
    return [name.strip() for name in columns.split(",")]


def _marks(columns: str) -> str:
    return "(" + ", ".join("?" for _ in _names(columns)) + ")"


def _set_all(columns: str, key: str) -> list[str]:
    return [f"{name} = excluded.{name}" for name in _names(columns) if name != key]


class Rows:
    """``INSERT INTO {table} ({columns}) VALUES (…), (…) {tail}`` for any number of rows.

    Up to :data:`MAX_ROWS` rows (fewer if SQLite's variable limit says so) go in one
    statement; the text for each row count is built once, and the connection keeps the
    prepared statements (its cache holds :data:`STATEMENTS` of them).
    """

    def __init__(self, table: str, columns: str, tail: str = "") -> None:
        self.width = len(_names(columns))
        self._head = f"INSERT INTO {table} ({columns}) VALUES "
        self._row = _marks(columns)
        self._tail = f" {tail}" if tail else ""
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return text

    def run(self, conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        most = min(MAX_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // self.width)
        for start in range(0, len(rows), most):
            chunk = rows[start : start + most]
            conn.execute(self.sql(len(chunk)), list(chain.from_iterable(chunk)))


def _in_json(select: str, column: str) -> str:
    """``select`` for the rows whose ``column`` is in a JSON array given as the one parameter."""
    return f"{select} WHERE {column} IN (SELECT value FROM json_each(?))"


# ----------------------------------------------------------------------------- journal

INSERT_RAW = f"INSERT INTO raw_inputs ({RAW_COLUMNS}) VALUES {_marks(RAW_COLUMNS)} RETURNING id"
SELECT_EVENT = "SELECT 1 FROM events WHERE event_id = ?"
INSERT_EVENT = (
    f"INSERT INTO events ({JOURNAL_COLUMNS}) VALUES {_marks(JOURNAL_COLUMNS)} "
    "ON CONFLICT (event_id) DO NOTHING"
)
#: Only for event ids known to be new (the caller checked under the write lock).
INSERT_EVENTS = Rows("events", JOURNAL_COLUMNS)
SELECT_KNOWN_EVENTS = _in_json("SELECT event_id FROM events", "event_id")

# ----------------------------------------------------------------------------- tasks

_TASK_UPDATE = f"ON CONFLICT (task_id) DO UPDATE SET {', '.join(_set_all(TASK_COLUMNS, 'task_id'))}"
SELECT_TASK = f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?"
SELECT_TASKS = _in_json(f"SELECT {TASK_COLUMNS} FROM tasks", "task_id")
UPSERT_TASK = f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES {_marks(TASK_COLUMNS)} {_TASK_UPDATE}"
UPSERT_TASKS = Rows("tasks", TASK_COLUMNS, _TASK_UPDATE)

# ----------------------------------------------------------------------------- batches

#: The task counters of a batch row, in ``STATUS_COLUMNS`` order. A batch upsert *adds*
#: them (the row carries this transaction's deltas), so counting needs no statement of its
#: own; a new row starts from the deltas, as its counters start from zero.
COUNT_COLUMNS = ", ".join(STATUS_COLUMNS.values())
_BATCH_COLUMNS = f"{BATCH_STATE_COLUMNS}, {BATCH_DERIVED_COLUMNS}, {COUNT_COLUMNS}"
_BATCH_UPDATE = "ON CONFLICT (batch_key) DO UPDATE SET " + ", ".join(
    [
        *_set_all(f"{BATCH_STATE_COLUMNS}, {BATCH_DERIVED_COLUMNS}", "batch_key"),
        *(f"{name} = {name} + excluded.{name}" for name in _names(COUNT_COLUMNS)),
    ]
)
SELECT_BATCH = f"SELECT {BATCH_STATE_COLUMNS} FROM batches WHERE batch_key = ?"
SELECT_BATCHES = _in_json(f"SELECT {BATCH_STATE_COLUMNS} FROM batches", "batch_key")
UPSERT_BATCHES = Rows("batches", _BATCH_COLUMNS, _BATCH_UPDATE)

# ----------------------------------------------------------------------------- counters

ADD_ERROR_CODES = Rows(
    "batch_error_codes",
    "batch_key, code, n",
    "ON CONFLICT (batch_key, code) DO UPDATE SET n = n + excluded.n",
)
ADD_PROJECT_TOTALS = Rows(
    "project_totals",
    "project, status, n",
    "ON CONFLICT (project, status) DO UPDATE SET n = n + excluded.n",
)

# ----------------------------------------------------------------------------- rollups

_ROLLUP_FIELDS = _names(ROLLUP_COLUMNS)
_NEWER_STATISTIC = (
    "excluded.statistic IS NOT NULL AND (statistic_time IS NULL OR "
    "(excluded.statistic_time, excluded.statistic_event_id) > (statistic_time, statistic_event_id))"
)
#: A rollup row carries this transaction's changes, added to what the row holds.
ADD_ROLLUPS = Rows(
    "batch_rollups",
    ROLLUP_COLUMNS,
    "ON CONFLICT (batch_key, level, bucket) DO UPDATE SET "
    + ", ".join(
        [
            "last_time = max(last_time, excluded.last_time)",
            *(f"{name} = {name} + excluded.{name}" for name in _ROLLUP_FIELDS[4:-3]),
            *(
                f"{name} = CASE WHEN {_NEWER_STATISTIC} THEN excluded.{name} ELSE {name} END"
                for name in _ROLLUP_FIELDS[-3:]
            ),
        ]
    ),
)

# ----------------------------------------------------------------------------- quarantine

INSERT_QUARANTINE = (
    "INSERT INTO quarantine (ingress, reason, detail, headers, raw_id, received_at, failed, "
    "failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)

# ----------------------------------------------------------------------------- batch actions

INSERT_ACTION = (
    "INSERT INTO batch_actions (batch_key, action, actor, outcome, detail, at) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)

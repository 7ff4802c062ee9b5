"""Read-side SQL of the SQLite store: the read API's queries and the ledger snapshot.

Every function takes a read-only connection already inside a read transaction
(see ``pool``), so the several SELECTs of one call see one state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from batchrelay.store import read_views as columns
from batchrelay.store import rollups
from batchrelay.store.base import (
    INGEST_SCAN,
    INGEST_WINDOW,
    QUARANTINE_SCAN,
    QUARANTINE_WINDOW,
    ActionView,
    BatchQuery,
    BatchView,
    EventView,
    FailedTask,
    HistoryPoint,
    Inbound,
    InvalidTokenError,
    Overview,
    Page,
    QuarantineView,
    TaskQuery,
    TaskView,
)
from batchrelay.store.packing import unpack
from batchrelay.store.row_codec import (
    EVENT_COLUMNS,
    event_from_journal,
    from_us,
    to_us,
)
from batchrelay.store.tokens import decode_token, encode_token

# --------------------------------------------------------------------------- batches


def get_batch(conn: sqlite3.Connection, batch_key: str) -> BatchView | None:
    row = conn.execute(f"{columns.SELECT_BATCHES} WHERE batch_key = ?", (batch_key,)).fetchone()
    return _batch_views(conn, [row])[0] if row else None


def get_batches(conn: sqlite3.Connection, batch_keys: Sequence[str]) -> list[BatchView]:
    """The batches of ``batch_keys`` that exist, in that order, a few queries for all."""
    found: dict[str, BatchView] = {}
    for start in range(0, len(batch_keys), 500):  # well under SQLite's bound on parameters
        chunk = list(batch_keys[start : start + 500])
        sql = f"{columns.SELECT_BATCHES} WHERE batch_key IN ({', '.join('?' * len(chunk))})"
        views = _batch_views(conn, conn.execute(sql, chunk).fetchall())
        found.update((view.batch_key, view) for view in views)
    return [found[key] for key in dict.fromkeys(batch_keys) if key in found]


def list_batches(conn: sqlite3.Connection, query: BatchQuery) -> Page[BatchView]:
    column = columns.SORT_COLUMNS.get(query.sort, "create_time")
    ascending = query.order == "ASC"
    where, params = _batch_filters(query)
    if query.next_token:
        keyset = decode_token(query.next_token, columns.BATCH_TOKEN)
        if (keyset["sort"], keyset["order"]) != (query.sort, query.order):
            raise InvalidTokenError("next_token belongs to a different Sort or Order")
        where.append(f"({column}, batch_key) {'>' if ascending else '<'} (?, ?)")
        params += [keyset["value"], keyset["key"]]
    direction = "ASC" if ascending else "DESC"
    limit = columns.page_size(query.max_results)
    sql = (
        f"{columns.SELECT_BATCHES} WHERE {' AND '.join(where) or 'TRUE'} "
        f"ORDER BY {column} {direction}, batch_key {direction} LIMIT ?"
    )
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    views = _batch_views(conn, rows[:limit])
    if len(rows) <= limit:
        return Page(views)
    last = rows[limit - 1]
    value = last[columns.BATCH_FIELDS.index(column)]
    keyset = {"sort": query.sort, "order": query.order, "value": value, "key": last[0]}
    return Page(views, encode_token(keyset))


def _batch_filters(query: BatchQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.project is not None:
        where.append("project = ?")
        params.append(query.project)
    if query.state:
        # the normalized status ("failed") or the service's word ("Failed", "Fail")
        where.append("(state = ? OR lower(raw_state) = ?)")
        params += [query.state.lower(), query.state.lower()]
    for key, value in sorted(query.tags.items()):
        match = "key = ?" if value is None else "key = ? AND value = ?"
        where.append(f"EXISTS (SELECT 1 FROM json_each(batches.tags) WHERE {match})")
        params += [key] if value is None else [key, value]
    return where, params


def _batch_views(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[BatchView]:
    codes = _error_codes(conn, [row[0] for row in rows])
    return [columns.batch_view(row, codes.get(row[0], {})) for row in rows]


def _error_codes(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, dict[str, int]]:
    if not keys:
        return {}
    marks = ", ".join("?" for _ in keys)
    rows = conn.execute(
        "SELECT batch_key, code, n FROM batch_error_codes "
        f"WHERE n != 0 AND batch_key IN ({marks}) ORDER BY batch_key, code",
        list(keys),
    )
    return columns.nest(rows)


def batch_state_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) FROM batches GROUP BY state ORDER BY state")
    return dict(rows.fetchall())


# --------------------------------------------------------------------------- tasks


#: The shortest search the trigram index (tasks_search) can answer.
TRIGRAM = 3


def trigram_query(search: str) -> str:
    """An FTS5 query for the tasks holding every trigram of ``search`` (the index keeps no
    positions, so no phrase query): a superset of the substring's matches."""
    trigrams = dict.fromkeys(search[i : i + TRIGRAM] for i in range(len(search) - TRIGRAM + 1))
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


#: A page of tasks, newest status first.
_TASK_ORDER = "ORDER BY status_time DESC, task_id DESC LIMIT ?"


#: A search matching more tasks than this (in all batches) is common: a page of them is
#: found sooner by reading the batch's tasks in order than by looking up each match.
SEARCH_ROWIDS = 10_000


def _search_rowids(conn: sqlite3.Connection, search: str) -> list[int] | None:
    """The rowids of the tasks holding every trigram of ``search``, or None when it is too
    short for the trigram index or matches more than ``SEARCH_ROWIDS`` tasks."""
    if len(search) < TRIGRAM:
        return None
    found = [rowid for (rowid,) in conn.execute(
        "SELECT rowid FROM tasks_search WHERE tasks_search MATCH ? LIMIT ?",
        (trigram_query(search), SEARCH_ROWIDS + 1))]  # fmt: skip
    return found if len(found) <= SEARCH_ROWIDS else None


def list_tasks(conn: sqlite3.Connection, query: TaskQuery) -> Page[TaskView]:
    """A batch's tasks, newest status first; ``search`` is a case-insensitive substring."""
    where, params, narrowed = _task_filters(conn, query)
    limit = columns.page_size(query.max_results)
    filters = " AND ".join(where)
    if narrowed:
        sql, args = f"{columns.SELECT_TASKS} WHERE {filters} {_TASK_ORDER}", [*params, limit + 1]
    else:
        # no index keeps a batch's tasks in time order whatever their status (one less to
        # write per task): tasks_by_status gives each status's newest keys, merged here,
        # and only the page's rows are read from the table
        newest = " UNION ALL ".join(
            f"SELECT * FROM (SELECT rowid AS id, status_time, task_id FROM tasks"
            f" WHERE {filters} AND status = '{status}' {_TASK_ORDER})"
            for status in sorted(columns.STATUS_WORDS)
        )
        sql = (
            f"{columns.SELECT_TASKS} WHERE rowid IN (SELECT id FROM ({newest}) {_TASK_ORDER})"
            f" ORDER BY status_time DESC, task_id DESC"
        )
        args = [*params, limit + 1] * len(columns.STATUS_WORDS) + [limit + 1]
    rows = conn.execute(sql, args).fetchall()
    views = [columns.task_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    last = rows[limit - 1]
    return Page(views, encode_token({"time": last[11], "key": last[0]}))


def _task_filters(conn: sqlite3.Connection, query: TaskQuery) -> tuple[list[str], list[Any], bool]:
    """The WHERE terms of a task listing, their parameters, and whether an index narrows
    them to few rows (a normalized status, a search few tasks match)."""
    where, params, narrowed = ["batch_key = ?"], [query.batch_key], False
    if query.status:
        # a normalized status pages by index (tasks_by_status); a service's word scans
        narrowed = query.status.lower() in columns.STATUS_WORDS
        where.append("status = ?" if narrowed else "lower(raw_status) = ?")
        params.append(query.status.lower())
    if query.code is not None:
        where.append("code = ?")
        params.append(query.code)
    if query.search:
        found = _search_rowids(conn, query.search)
        if found is not None:  # the trigram index narrows, LIKE decides
            # +batch_key: the tasks are read by rowid, not the batch's whole index range
            where[0] = "+batch_key = ?"
            where.append("rowid IN (SELECT value FROM json_each(?))")
            params.append(orjson.dumps(found).decode())
            narrowed = True
        # LIKE is case-insensitive for ASCII; the escape keeps % and _ literal
        where.append(r"(object_path LIKE ? ESCAPE '\' OR task_id LIKE ? ESCAPE '\')")
        params += [columns.like_pattern(query.search)] * 2
    if query.next_token:
        keyset = decode_token(query.next_token, columns.TASK_TOKEN)
        where.append("(status_time, task_id) < (?, ?)")
        params += [keyset["time"], keyset["key"]]
    return where, params, narrowed


# --------------------------------------------------------------------------- quarantine


def list_quarantine(
    conn: sqlite3.Connection, max_results: int, next_token: str
) -> Page[QuarantineView]:
    """Newest first."""
    where, params = "", []
    if next_token:
        where, params = "WHERE q.id < ?", [decode_token(next_token, columns.QUARANTINE_TOKEN)["id"]]
    limit = columns.page_size(max_results)
    sql = f"{columns.SELECT_QUARANTINE} {where} ORDER BY q.id DESC LIMIT ?"
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    views = [columns.quarantine_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    return Page(views, encode_token({"id": rows[limit - 1][0]}))


# --------------------------------------------------------------------------- batch actions


def list_batch_actions(
    conn: sqlite3.Connection, batch_key: str, max_results: int, next_token: str
) -> Page[ActionView]:
    """Newest first."""
    where, params = "WHERE batch_key = ?", [batch_key]
    if next_token:
        where += " AND id < ?"
        params.append(decode_token(next_token, columns.ACTIONS_TOKEN)["id"])
    limit = columns.page_size(max_results)
    sql = f"{columns.SELECT_ACTIONS} {where} ORDER BY id DESC LIMIT ?"
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    views = [columns.action_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    return Page(views, encode_token({"id": rows[limit - 1][0]}))


# --------------------------------------------------------------------------- dashboard


def list_batch_events(
    conn: sqlite3.Connection, batch_key: str, max_results: int, next_token: str
) -> Page[EventView]:
    """Newest event time first; served by ``events_by_batch``."""
    where, params = ["batch_key = ?"], [batch_key]
    if next_token:
        keyset = decode_token(next_token, columns.EVENT_TOKEN)
        where.append("(time, event_id) < (?, ?)")
        params += [keyset["time"], keyset["key"]]
    limit = columns.page_size(max_results)
    sql = (
        f"{columns.SELECT_EVENTS} WHERE {' AND '.join(where)} "
        "ORDER BY time DESC, event_id DESC LIMIT ?"
    )
    rows = conn.execute(sql, [*params, limit + 1]).fetchall()
    views = [columns.event_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    last = rows[limit - 1]
    return Page(views, encode_token({"time": last[3], "key": last[0]}))


def batch_history(conn: sqlite3.Connection, batch_key: str, max_points: int) -> list[HistoryPoint]:
    """From the batch's rollups at one level (``store/rollups.py``): a few hundred rows."""
    span = conn.execute(
        "SELECT first_seen, last_seen FROM batches WHERE batch_key = ?", (batch_key,)
    ).fetchone()
    if span is None:
        return []
    first, last = from_us(span[0]), from_us(span[1])
    rows = conn.execute(
        f"SELECT {rollups.HISTORY_COLUMNS} FROM batch_rollups"
        " WHERE batch_key = ? AND level = ? ORDER BY bucket",
        (batch_key, rollups.level_for(first, last, max_points)),
    ).fetchall()
    return rollups.points(rows, first, last, max_points)


def changed_batches(conn: sqlite3.Connection, since: datetime, max_results: int) -> list[BatchView]:
    """Served by ``batches_by_received``."""
    rows = conn.execute(
        f"{columns.SELECT_BATCHES} WHERE last_received >= ?"
        " ORDER BY last_received, batch_key LIMIT ?",
        (to_us(since), max(1, max_results)),
    ).fetchall()
    return _batch_views(conn, rows)


def overview(conn: sqlite3.Connection, now: datetime) -> Overview:
    received, capped = _newest_since(conn, "events", "seq", to_us(now - INGEST_WINDOW), INGEST_SCAN)
    quarantined, _ = _newest_since(
        conn, "quarantine", "id", to_us(now - QUARANTINE_WINDOW), QUARANTINE_SCAN
    )
    (firing,) = conn.execute("SELECT count(*) FROM alerts WHERE status = 'firing'").fetchone()
    (dead,) = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'dead'").fetchone()
    return Overview(
        batches=batch_state_counts(conn), alerts_firing=firing, dead_letters=dead,
        quarantined=quarantined, received=received, received_capped=capped,
    )  # fmt: skip


def _newest_since(
    conn: sqlite3.Connection, table: str, order: str, since_us: int, scan: int
) -> tuple[int, bool]:
    """Rows received at or after ``since_us`` among the newest ``scan`` (arrival order);
    True when all ``scan`` rows read were that recent."""
    n, read = conn.execute(
        f"SELECT sum(received_at >= ?), count(*) FROM "
        f"(SELECT received_at FROM {table} ORDER BY {order} DESC LIMIT ?)",
        (since_us, scan),
    ).fetchone()
    return int(n or 0), read == scan and n == scan


def failed_tasks(
    conn: sqlite3.Connection, batch_key: str, codes: Sequence[str], per_code: int
) -> dict[str, list[FailedTask]]:
    """Served by ``tasks_failed``: one index seek per code."""
    found: dict[str, list[FailedTask]] = {}
    for code in codes:
        rows = conn.execute(
            "SELECT task_id, object_path, status_time FROM tasks INDEXED BY tasks_failed "
            "WHERE batch_key = ? AND code = ? AND status = 'failed' "
            "ORDER BY status_time, task_id LIMIT ?",
            (batch_key, code, max(0, per_code)),
        ).fetchall()
        if rows:
            found[code] = [columns.failed_task(row) for row in rows]
    return found


def batch_activity(
    conn: sqlite3.Connection,
    batch_keys: Sequence[str],
    since: datetime,
    bucket: timedelta,
    buckets: int,
) -> dict[str, list[int]]:
    """Served by ``events_by_batch``: a range scan of the window per batch."""
    start, width = to_us(since), bucket // timedelta(microseconds=1)
    activity: dict[str, list[int]] = {}
    for key in dict.fromkeys(batch_keys):
        rows = conn.execute(
            "SELECT (time - ?) / ?, count(*) FROM events WHERE batch_key = ? "
            "AND time >= ? AND time < ? GROUP BY 1",
            (start, width, key, start, start + width * buckets),
        )
        activity[key] = columns.buckets(rows, buckets)
    return activity


# --------------------------------------------------------------------------- snapshot


def ledger_snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
    """Canonical, JSON-ready, sorted; arrival times left out so replays compare equal."""
    codes = columns.nest(
        conn.execute(
            "SELECT batch_key, code, n FROM batch_error_codes WHERE n != 0 ORDER BY batch_key, code"
        )
    )
    totals = conn.execute(
        "SELECT project, status, n FROM project_totals WHERE n != 0 ORDER BY project, status"
    )
    batches = conn.execute(f"{columns.SELECT_BATCHES} ORDER BY batch_key")
    tasks = conn.execute(f"{columns.SELECT_TASKS} ORDER BY task_id")
    return columns.snapshot(codes, columns.nest(totals), batches, tasks)


def read_journal(conn: sqlite3.Connection, after: int, limit: int) -> list[tuple[int, Inbound]]:
    rows = conn.execute(
        f"SELECT e.seq, r.body, r.packing, e.received_at, r.encoding, {EVENT_COLUMNS} "
        "FROM events e LEFT JOIN raw_inputs r ON r.id = e.raw_id WHERE e.seq > ? "
        "ORDER BY e.seq LIMIT ?",
        (after, limit),
    ).fetchall()
    return [
        (seq, Inbound(event_from_journal(event), unpack(raw, packing), from_us(received_at),
                      encoding or ""))
        for seq, raw, packing, received_at, encoding, *event in rows
    ]  # fmt: skip

"""Read-side SQL of the PostgreSQL store: the read API's queries and the ledger snapshot.

The same queries as ``store/sqlite/queries.py``, row for row: the same filters, orders, page sizes
and page tokens (times are the same integer microseconds). Every function takes a
connection inside a read-only snapshot (see ``pool.Pool.read``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

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


class _Params:
    """Positional parameters: ``add(value)`` returns its ``$n`` placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


# --------------------------------------------------------------------------- batches


async def get_batch(conn: asyncpg.Connection, batch_key: str) -> BatchView | None:
    row = await conn.fetchrow(f"{columns.SELECT_BATCHES} WHERE batch_key = $1", batch_key)
    return (await _batch_views(conn, [row]))[0] if row else None


async def get_batches(conn: asyncpg.Connection, batch_keys: Sequence[str]) -> list[BatchView]:
    """The batches of ``batch_keys`` that exist, in that order, in one round trip."""
    rows = await conn.fetch(
        f"{columns.SELECT_BATCHES} WHERE batch_key = ANY($1::text[])", batch_keys
    )
    found = {view.batch_key: view for view in await _batch_views(conn, rows)}
    return [found[key] for key in dict.fromkeys(batch_keys) if key in found]


async def list_batches(conn: asyncpg.Connection, query: BatchQuery) -> Page[BatchView]:
    column = columns.SORT_COLUMNS.get(query.sort, "create_time")
    ascending = query.order == "ASC"
    params = _Params()
    where = _batch_filters(query, params)
    if query.next_token:
        keyset = decode_token(query.next_token, columns.BATCH_TOKEN)
        if (keyset["sort"], keyset["order"]) != (query.sort, query.order):
            raise InvalidTokenError("next_token belongs to a different Sort or Order")
        value, key = params.add(keyset["value"]), params.add(keyset["key"])
        where.append(f"({column}, batch_key) {'>' if ascending else '<'} ({value}, {key})")
    direction = "ASC" if ascending else "DESC"
    limit = columns.page_size(query.max_results)
    sql = (
        f"{columns.SELECT_BATCHES} WHERE {' AND '.join(where) or 'TRUE'} "
        f"ORDER BY {column} {direction}, batch_key {direction} LIMIT {params.add(limit + 1)}"
    )
    rows = await conn.fetch(sql, *params.values)
    views = await _batch_views(conn, rows[:limit])
    if len(rows) <= limit:
        return Page(views)
    last = rows[limit - 1]
    keyset = {"sort": query.sort, "order": query.order, "value": last[column], "key": last[0]}
    return Page(views, encode_token(keyset))


def _batch_filters(query: BatchQuery, params: _Params) -> list[str]:
    where: list[str] = []
    if query.project is not None:
        where.append(f"project = {params.add(query.project)}")
    if query.state:
        # the normalized status ("failed") or the service's word ("Failed", "Fail")
        state = params.add(query.state.lower())
        where.append(f"(state = {state} OR lower(raw_state) = {state})")
    for key, value in sorted(query.tags.items()):
        if value is None:
            where.append(f"tags ? {params.add(key)}")
        else:
            where.append(f"tags ->> {params.add(key)} = {params.add(value)}")
    return where


async def _batch_views(conn: asyncpg.Connection, rows: Sequence[Any]) -> list[BatchView]:
    codes = await _error_codes(conn, [row[0] for row in rows])
    return [columns.batch_view(row, codes.get(row[0], {})) for row in rows]


async def _error_codes(conn: asyncpg.Connection, keys: Sequence[str]) -> dict[str, dict[str, int]]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT batch_key, code, n FROM batch_error_codes "
        "WHERE n != 0 AND batch_key = ANY($1::text[]) ORDER BY batch_key, code",
        list(keys),
    )
    return columns.nest(rows)


async def batch_state_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT state, count(*) FROM batches GROUP BY state ORDER BY state")
    return {state: n for state, n in rows}


# --------------------------------------------------------------------------- tasks


async def list_tasks(conn: asyncpg.Connection, query: TaskQuery) -> Page[TaskView]:
    """A batch's tasks, newest status first; ``search`` is a case-insensitive substring."""
    params = _Params()
    where = [f"batch_key = {params.add(query.batch_key)}"]
    if query.status:
        # a normalized status pages by index (tasks_by_status); a service's word scans
        known = query.status.lower() in columns.STATUS_WORDS
        status = params.add(query.status.lower())
        where.append(f"status = {status}" if known else f"lower(raw_status) = {status}")
    if query.code is not None:
        where.append(f"code = {params.add(query.code)}")
    if query.search:
        # the escape keeps % and _ literal, as in the SQLite store's LIKE
        pattern = params.add(columns.like_pattern(query.search))
        where.append(
            rf"(object_path ILIKE {pattern} ESCAPE '\' OR task_id ILIKE {pattern} ESCAPE '\')"
        )
    if query.next_token:
        keyset = decode_token(query.next_token, columns.TASK_TOKEN)
        where.append(f"(status_time, task_id) < ({params.add(keyset['time'])}, "
                     f"{params.add(keyset['key'])})")  # fmt: skip
    limit = columns.page_size(query.max_results)
    sql = (
        f"{columns.SELECT_TASKS} WHERE {' AND '.join(where)} "
        f"ORDER BY status_time DESC, task_id DESC LIMIT {params.add(limit + 1)}"
    )
    rows = await conn.fetch(sql, *params.values)
    views = [columns.task_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    last = rows[limit - 1]
    return Page(views, encode_token({"time": last["status_time"], "key": last["task_id"]}))


# --------------------------------------------------------------------------- quarantine


async def list_quarantine(
    conn: asyncpg.Connection, max_results: int, next_token: str
) -> Page[QuarantineView]:
    """Newest first."""
    params = _Params()
    where = ""
    if next_token:
        before = decode_token(next_token, columns.QUARANTINE_TOKEN)["id"]
        where = f"WHERE q.id < {params.add(before)}"
    limit = columns.page_size(max_results)
    sql = f"{columns.SELECT_QUARANTINE} {where} ORDER BY q.id DESC LIMIT {params.add(limit + 1)}"
    rows = await conn.fetch(sql, *params.values)
    views = [columns.quarantine_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    return Page(views, encode_token({"id": rows[limit - 1]["id"]}))


# --------------------------------------------------------------------------- batch actions


async def list_batch_actions(
    conn: asyncpg.Connection, batch_key: str, max_results: int, next_token: str
) -> Page[ActionView]:
    """Newest first."""
    params = _Params()
    where = f"WHERE batch_key = {params.add(batch_key)}"
    if next_token:
        where += f" AND id < {params.add(decode_token(next_token, columns.ACTIONS_TOKEN)['id'])}"
    limit = columns.page_size(max_results)
    sql = f"{columns.SELECT_ACTIONS} {where} ORDER BY id DESC LIMIT {params.add(limit + 1)}"
    rows = await conn.fetch(sql, *params.values)
    views = [columns.action_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    return Page(views, encode_token({"id": rows[limit - 1]["id"]}))


# --------------------------------------------------------------------------- dashboard


async def list_batch_events(
    conn: asyncpg.Connection, batch_key: str, max_results: int, next_token: str
) -> Page[EventView]:
    """Newest event time first; served by ``events_by_batch``."""
    params = _Params()
    where = [f"batch_key = {params.add(batch_key)}"]
    if next_token:
        keyset = decode_token(next_token, columns.EVENT_TOKEN)
        where.append(f"(time, event_id) < ({params.add(keyset['time'])}, "
                     f"{params.add(keyset['key'])})")  # fmt: skip
    limit = columns.page_size(max_results)
    sql = (
        f"{columns.SELECT_EVENTS} WHERE {' AND '.join(where)} "
        f"ORDER BY time DESC, event_id DESC LIMIT {params.add(limit + 1)}"
    )
    rows = await conn.fetch(sql, *params.values)
    views = [columns.event_view(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(views)
    last = rows[limit - 1]
    return Page(views, encode_token({"time": last["time"], "key": last["event_id"]}))


async def batch_history(
    conn: asyncpg.Connection, batch_key: str, max_points: int
) -> list[HistoryPoint]:
    """From the batch's rollups at one level (``store/rollups.py``): a few hundred rows."""
    span = await conn.fetchrow(
        "SELECT first_seen, last_seen FROM batches WHERE batch_key = $1", batch_key
    )
    if span is None:
        return []
    first, last = from_us(span[0]), from_us(span[1])
    rows = await conn.fetch(
        f"SELECT {rollups.HISTORY_COLUMNS} FROM batch_rollups"
        " WHERE batch_key = $1 AND level = $2 ORDER BY bucket",
        batch_key, rollups.level_for(first, last, max_points),
    )  # fmt: skip
    return rollups.points([tuple(row) for row in rows], first, last, max_points)


async def changed_batches(
    conn: asyncpg.Connection, since: datetime, max_results: int
) -> list[BatchView]:
    """Served by ``batches_by_received``."""
    rows = await conn.fetch(
        f"{columns.SELECT_BATCHES} WHERE last_received >= $1"
        " ORDER BY last_received, batch_key LIMIT $2",
        to_us(since),
        max(1, max_results),
    )
    return await _batch_views(conn, rows)


async def overview(conn: asyncpg.Connection, now: datetime) -> Overview:
    received, capped = await _newest_since(
        conn, "events", "seq", to_us(now - INGEST_WINDOW), INGEST_SCAN
    )
    quarantined, _ = await _newest_since(
        conn, "quarantine", "id", to_us(now - QUARANTINE_WINDOW), QUARANTINE_SCAN
    )
    firing = await conn.fetchval("SELECT count(*) FROM alerts WHERE status = 'firing'")
    dead = await conn.fetchval("SELECT count(*) FROM deliveries WHERE state = 'dead'")
    return Overview(
        batches=await batch_state_counts(conn), alerts_firing=firing, dead_letters=dead,
        quarantined=quarantined, received=received, received_capped=capped,
    )  # fmt: skip


async def _newest_since(
    conn: asyncpg.Connection, table: str, order: str, since_us: int, scan: int
) -> tuple[int, bool]:
    """As ``store/sqlite/queries.py``'s ``_newest_since``."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE received_at >= $1), count(*) FROM "
        f"(SELECT received_at FROM {table} ORDER BY {order} DESC LIMIT $2) AS newest",
        since_us,
        scan,
    )
    n, read = row
    return n, read == scan and n == scan


async def failed_tasks(
    conn: asyncpg.Connection, batch_key: str, codes: Sequence[str], per_code: int
) -> dict[str, list[FailedTask]]:
    """Served by ``tasks_failed``: one index scan per code, in one round trip."""
    rows = await conn.fetch(
        "SELECT c.code, t.task_id, t.object_path, t.status_time "
        "FROM unnest($2::text[]) AS c(code) CROSS JOIN LATERAL ("
        "  SELECT task_id, object_path, status_time FROM tasks"
        "  WHERE batch_key = $1 AND code = c.code AND status = 'failed'"
        "  ORDER BY status_time, task_id LIMIT $3) AS t",
        batch_key,
        list(codes),
        max(0, per_code),
    )
    found: dict[str, list[FailedTask]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(columns.failed_task(tuple(row)[1:]))
    return {code: found[code] for code in codes if code in found}


async def batch_activity(
    conn: asyncpg.Connection,
    batch_keys: Sequence[str],
    since: datetime,
    bucket: timedelta,
    buckets: int,
) -> dict[str, list[int]]:
    """Served by ``events_by_batch``: a range scan of the window per batch."""
    start, width = to_us(since), bucket // timedelta(microseconds=1)
    rows = await conn.fetch(
        "SELECT k.key, (e.time - $2) / $3, count(*) FROM unnest($1::text[]) AS k(key) "
        "JOIN events AS e ON e.batch_key = k.key AND e.time >= $2 AND e.time < $4 "
        "GROUP BY 1, 2",
        list(dict.fromkeys(batch_keys)),
        start,
        width,
        start + width * buckets,
    )
    by_key: dict[str, list[tuple[int, int]]] = {key: [] for key in batch_keys}
    for key, index, n in rows:
        by_key[key].append((index, n))
    return {key: columns.buckets(found, buckets) for key, found in by_key.items()}


# --------------------------------------------------------------------------- snapshot


async def ledger_snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Canonical, JSON-ready, sorted; arrival times left out so replays compare equal."""
    codes = columns.nest(
        await conn.fetch(
            "SELECT batch_key, code, n FROM batch_error_codes WHERE n != 0 ORDER BY batch_key, code"
        )
    )
    totals = await conn.fetch(
        "SELECT project, status, n FROM project_totals WHERE n != 0 ORDER BY project, status"
    )
    batches = await conn.fetch(f"{columns.SELECT_BATCHES} ORDER BY batch_key")
    tasks = await conn.fetch(f"{columns.SELECT_TASKS} ORDER BY task_id")
    return columns.snapshot(codes, columns.nest(totals), batches, tasks)


async def read_journal(
    conn: asyncpg.Connection, after: int, limit: int
) -> list[tuple[int, Inbound]]:
    rows = await conn.fetch(
        f"SELECT e.seq, r.body, r.packing, e.received_at, r.encoding, {EVENT_COLUMNS} "
        "FROM events e LEFT JOIN raw_inputs r ON r.id = e.raw_id WHERE e.seq > $1 "
        "ORDER BY e.seq LIMIT $2",
        after,
        limit,
    )
    return [
        (seq, Inbound(event_from_journal(event), unpack(raw, packing), from_us(received_at),
                      encoding or ""))
        for seq, raw, packing, received_at, encoding, *event in rows
    ]  # fmt: skip

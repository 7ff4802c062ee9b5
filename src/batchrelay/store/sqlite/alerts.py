"""Alert state in the SQLite store (tables of migration 0003); see ``store/contracts.py``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from batchrelay.events.models import EventBase
from batchrelay.routing.silences import Silence
from batchrelay.store.base import BatchView
from batchrelay.store.contracts import RESOLVING_STATES, AlertState, Changes, DigestFacts
from batchrelay.store.row_codec import EVENT_COLUMNS, event_from_journal, media_urls, to_us
from batchrelay.store.sqlite import queries
from batchrelay.store.sqlite.subscriptions import owe

if TYPE_CHECKING:  # the store module imports this one
    from batchrelay.store.sqlite.store import SQLiteStore


def mark_dirty(conn: sqlite3.Connection, event: EventBase) -> None:
    """Commit hook: note that ``event``'s batch changed, inside the event's transaction."""
    if event.batch_key:
        conn.execute(
            "INSERT INTO alert_dirty (batch_key, seq) VALUES (?, 0)"
            " ON CONFLICT DO UPDATE SET seq = seq + 1",
            (event.batch_key,),
        )


class SQLiteAlertStore:
    """:class:`~batchrelay.store.contracts.AlertStore` on a :class:`SQLiteStore`, through its
    writer and read pool."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def dirty(self, limit: int = 5000) -> dict[str, int]:
        """Batches changed since their last evaluation, with their mark counters."""
        rows = await self.store.read(
            lambda c: c.execute("SELECT batch_key, seq FROM alert_dirty LIMIT ?", (limit,))
        .fetchall())  # fmt: skip
        return dict(rows)

    async def watched_batches(self) -> list[str]:
        """What the timer looks at: batches that can still change state, and batches with
        an alert that is not resolved."""
        marks = ",".join("?" * len(RESOLVING_STATES))
        return await self.store.read(lambda c: [key for (key,) in c.execute(
            f"SELECT batch_key FROM batches WHERE state NOT IN ({marks})"
            " UNION SELECT batch_key FROM alerts WHERE status != 'resolved'",
            sorted(RESOLVING_STATES),
        )])  # fmt: skip

    async def batches(self, keys: Iterable[str]) -> list[BatchView]:
        wanted = list(keys)
        return await self.store.read(lambda c: queries.get_batches(c, wanted))

    async def states(self, keys: Iterable[str]) -> dict[tuple[str, str], AlertState]:
        wanted = list(keys)

        def read(conn: sqlite3.Connection) -> dict[tuple[str, str], AlertState]:
            found: dict[tuple[str, str], AlertState] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for (text,) in conn.execute(
                    f"SELECT state FROM alerts WHERE batch_key IN ({marks})", chunk
                ):
                    state = AlertState.from_dict(json.loads(text))
                    found[(state.rule, state.batch_key)] = state
            return found

        return await self.store.read(read)

    async def alerts(
        self,
        status: str | None = None,
        batch_key: str | None = None,
        rule: str | None = None,
        limit: int = 1000,
    ) -> list[AlertState]:
        """Newest first, filtered."""
        clauses: list[str] = ["1 = 1"]
        args: list[object] = []
        for column, value in (("status", status), ("batch_key", batch_key), ("rule", rule)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        sql = (f"SELECT state FROM alerts WHERE {' AND '.join(clauses)}"
               " ORDER BY updated_at DESC, rule, batch_key LIMIT ?")  # fmt: skip
        rows = await self.store.read(lambda c: c.execute(sql, [*args, limit]).fetchall())
        return [AlertState.from_dict(json.loads(text)) for (text,) in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        """(rule, status) -> number of alerts, for the metrics."""
        sql = "SELECT rule, status, COUNT(*) FROM alerts GROUP BY rule, status"
        rows = await self.store.read(lambda c: c.execute(sql).fetchall())
        return {(rule, status): n for rule, status, n in rows}

    async def silences(self, ended_after: datetime | None = None) -> list[Silence]:
        """Silences that end after ``ended_after`` (all when None), newest first."""
        after = to_us(ended_after) if ended_after is not None else -1
        rows = await self.store.read(
            lambda c: c.execute(
                "SELECT data FROM silences WHERE ends_at > ? ORDER BY created_at DESC, id",
                (after,),
            ).fetchall()
        )
        return [Silence.from_dict(json.loads(text)) for (text,) in rows]

    async def silence(self, silence_id: str) -> Silence | None:
        row = await self.store.read(
            lambda c: c.execute("SELECT data FROM silences WHERE id = ?", (silence_id,)).fetchone()
        )
        return Silence.from_dict(json.loads(row[0])) if row else None

    async def put_silence(self, silence: Silence, now: datetime) -> None:
        await self.store.write(lambda c: _put_silence(c, silence, to_us(now)))

    async def digested(self, keys: Iterable[str]) -> dict[str, int]:
        """batch_key -> the finish (microseconds) its last digest reported."""
        wanted = list(keys)
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, int]:
            marks = ",".join("?" * len(wanted))
            sql = f"SELECT batch_key, finished_at FROM batch_digests WHERE batch_key IN ({marks})"
            return dict(conn.execute(sql, wanted).fetchall())

        return await self.store.read(read)

    async def digest_facts(self, batch_key: str, limit: int) -> DigestFacts:
        def read(conn: sqlite3.Connection) -> DigestFacts:
            failed = conn.execute(
                "SELECT object_path, task_id, code, message FROM tasks"
                " WHERE batch_key = ? AND status = 'failed'"
                " ORDER BY status_time, task_id LIMIT ?",
                (batch_key, limit),
            ).fetchall()
            jobs = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM tasks t"
                " JOIN events e ON e.event_id = t.event_id WHERE t.batch_key = ?"
                " AND t.status = 'succeeded' AND e.kind = 'ice_job'"
                " ORDER BY t.status_time, t.task_id",
                (batch_key,),
            )
            return DigestFacts(
                failed=[
                    {"object_path": p or "", "task_id": t, "code": c, "message": m}
                    for p, t, c, m in failed
                ],
                media_urls=media_urls(map(event_from_journal, jobs), limit),
            )

        return await self.store.read(read)

    async def apply(self, changes: Changes, now: datetime) -> None:
        if changes:
            await self.store.write(lambda c: _apply(c, changes, to_us(now)))


def _put_silence(conn: sqlite3.Connection, silence: Silence, now: int) -> None:
    conn.execute(
        "INSERT INTO silences (id, data, ends_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET data = excluded.data, ends_at = excluded.ends_at,"
        " updated_at = excluded.updated_at",
        (silence.id, json.dumps(silence.to_dict()), to_us(silence.ends_at), now, now),
    )


def _apply(conn: sqlite3.Connection, changes: Changes, now: int) -> None:
    conn.executemany(
        "INSERT INTO alerts (rule, batch_key, status, state, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET status = excluded.status, state = excluded.state,"
        " updated_at = excluded.updated_at",
        [(s.rule, s.batch_key, s.status, json.dumps(s.to_dict()), now) for s in changes.saved],
    )
    conn.executemany("DELETE FROM alerts WHERE rule = ? AND batch_key = ?", changes.forgotten)
    for notice in changes.notices:
        owe(conn, notice.view, notice.matches, now)
    conn.executemany(
        "INSERT INTO batch_digests (batch_key, finished_at, sent_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO UPDATE SET finished_at = excluded.finished_at, sent_at = excluded.sent_at",
        [(key, to_us(finished), now) for key, finished in changes.digests],
    )
    for silence in changes.silences:
        _put_silence(conn, silence, now)
    conn.executemany(
        "DELETE FROM alert_dirty WHERE batch_key = ? AND seq = ?", list(changes.cleaned.items())
    )

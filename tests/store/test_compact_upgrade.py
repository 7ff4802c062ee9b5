"""A store made by the schema before the compact journal (SQLite 0013, PostgreSQL 0014)
upgrades with its data converted: the journal's models lose the columns (SQLite; on
PostgreSQL they stay whole JSON, as bytes) and ``ingress``, ``source``, ``type`` and
``task_id`` live only in them, task provenance becomes ``0`` where
the status event set every sticky field, and every event reads back, shows and rebuilds
exactly as in a store that journaled it with the new schema."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from batchrelay.events.models import FINAL_STATUSES, Event
from batchrelay.store.base import Store, TaskQuery
from batchrelay.store.postgres.migrate import apply_migrations as pg_migrate
from batchrelay.store.postgres.migrate import bundled_migrations as pg_migrations
from batchrelay.store.row_codec import TASK_COLUMNS, to_us
from batchrelay.store.sqlite.migrate import apply_migrations as sqlite_migrate
from batchrelay.store.sqlite.migrate import bundled_migrations as sqlite_migrations

from .conftest import PostgresStoreFactory, SQLiteStoreFactory
from .factories import RECEIVED, ice_job, imm_batch, imm_task, inbound

OLD_SQLITE, OLD_POSTGRES = 13, 14
_OLD_EVENT = (
    "event_id, received_at, ingress, source, type, kind, batch_key, task_id, time, model, raw_id"
)
_STICKY = ("batch_key", "project", "task_type", "object_path")


def journal() -> list[Event]:
    note = 'nul \u0000, line\nbreak "quoted" 😀'
    odd = imm_task("t3", "failed", 5, batch_key="B", code="E", object_path="oss://b/ü.mov",
                   data={"note": note, "big": 2**70})  # fmt: skip
    job = ice_job("J1", "succeeded", 6, batch_key="I")
    job = job.model_copy(update={"media_url": "https://out/1.mp4"})
    return [
        imm_batch("B", "running", 1),
        imm_task("t1", "running", 2, batch_key="B"),
        imm_task("t1", "succeeded", 3, batch_key="B"),
        imm_task("t2", "running", 4, batch_key="B", project=None),
        odd,
        job,
        imm_batch("B", "succeeded", 9),
    ]


def old_event_row(seq: int, event: Event) -> tuple[Any, ...]:
    """The journal row as the previous schema wrote it: the whole model as JSON."""
    return (
        event.event_id, to_us(RECEIVED), event.ingress, event.source, event.type, event.kind,
        event.batch_key, event.task_id, to_us(event.time), event.model_dump_json(), seq,
    )  # fmt: skip


def old_task_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A task row with its provenance as the previous schema wrote it: a rank per field."""
    fields = dict(zip([c.strip() for c in TASK_COLUMNS.split(",")], row, strict=True))
    rank = [int(fields["status"] in FINAL_STATUSES), fields["status_time"], fields["event_id"]]
    fields["provenance"] = json.dumps({name: rank for name in _STICKY if fields[name]})
    return tuple(fields.values())


async def assert_reads_as_reference(upgraded: Store, reference: Store) -> None:
    def by_id(journal: list[Any]) -> dict[str, Any]:  # PostgreSQL journals a group by id
        return {i.event.event_id: (i.event, i.raw) for _, i in journal}

    expected = by_id(await reference.read_journal(0, 100))
    assert by_id(await upgraded.read_journal(0, 100)) == expected
    shown = await upgraded.list_batch_events("B", 100, "")
    assert shown == await reference.list_batch_events("B", 100, "")
    assert {e.event_id: (e.status, e.code) for e in shown.items}["task:t3:failed:5"] == (
        "failed", "E"
    )  # fmt: skip
    query = TaskQuery(batch_key="B", search="b/ü")
    assert (await upgraded.list_tasks(query)).items == (await reference.list_tasks(query)).items
    await upgraded.rebuild_ledger()
    assert await upgraded.ledger_snapshot() == await reference.ledger_snapshot()
    assert (await upgraded.alerts.digest_facts("I", 5)).media_urls == ["https://out/1.mp4"]


async def test_a_sqlite_store_of_the_previous_schema_upgrades_with_its_data(
    sqlite_store_factory: SQLiteStoreFactory,
) -> None:
    events = journal()
    reference = await sqlite_store_factory("reference")
    await reference.commit_many([inbound(e, raw=e.event_id.encode()) for e in events])
    with sqlite3.connect(reference.path) as conn:
        tasks = [old_task_row(r) for r in conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks")]
    with sqlite3.connect(sqlite_store_factory.path("old"), isolation_level=None) as conn:
        sqlite_migrate(conn, [m for m in sqlite_migrations() if m.version <= OLD_SQLITE])
        conn.execute("BEGIN")
        for seq, event in enumerate(events, 1):
            conn.execute("INSERT INTO raw_inputs (id, received_at, ingress, body) VALUES "
                         "(?, ?, ?, ?)", (seq, to_us(RECEIVED), event.ingress,
                                          event.event_id.encode()))  # fmt: skip
            conn.execute(f"INSERT INTO events ({_OLD_EVENT}) VALUES ({', '.join('?' * 11)})",
                         old_event_row(seq, event))  # fmt: skip
        conn.executemany(f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                         tasks)  # fmt: skip
        conn.execute("COMMIT")
    upgraded = await sqlite_store_factory("old")
    with sqlite3.connect(upgraded.path) as conn:
        provenance = dict(conn.execute("SELECT task_id, provenance FROM tasks"))
        models = [m for (m,) in conn.execute("SELECT model FROM events")]
    assert provenance == {"t1": "0", "t2": "0", "t3": "0", "J1": "0"}
    assert all(b'"event_id"' not in m and b'"ingress"' in m for m in models)
    await assert_reads_as_reference(upgraded, reference)


async def test_a_postgres_store_of_the_previous_schema_upgrades_with_its_data(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    events = journal()
    reference = await postgres_store_factory("reference")
    await reference.commit_many([inbound(e, raw=e.event_id.encode()) for e in events])
    conn = await asyncpg.connect(await postgres_store_factory.dsn("reference"))
    try:
        tasks = [old_task_row(r) for r in await conn.fetch(f"SELECT {TASK_COLUMNS} FROM tasks")]
    finally:
        await conn.close()
    conn = await asyncpg.connect(await postgres_store_factory.dsn("old"))
    try:
        await pg_migrate(conn, [m for m in pg_migrations() if m.version <= OLD_POSTGRES])
        async with conn.transaction():
            for seq, event in enumerate(events, 1):
                await conn.execute("INSERT INTO raw_inputs (id, received_at, ingress, body)"
                                   " VALUES ($1, $2, $3, $4)", seq, to_us(RECEIVED),
                                   event.ingress, event.event_id.encode())  # fmt: skip
                await conn.execute(f"INSERT INTO events (seq, {_OLD_EVENT}) OVERRIDING SYSTEM"
                                   f" VALUE VALUES ({', '.join(f'${n}' for n in range(1, 13))})",
                                   seq, *old_event_row(seq, event))  # fmt: skip
            marks = ", ".join(f"${n}" for n in range(1, 15))
            await conn.executemany(f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES ({marks})", tasks)
            await conn.execute("SELECT setval('raw_inputs_id_seq', $1)", len(events))
    finally:
        await conn.close()
    upgraded = await postgres_store_factory("old")
    conn = await asyncpg.connect(await postgres_store_factory.dsn("old"))
    try:
        rows = await conn.fetch("SELECT task_id, provenance::text AS p FROM tasks")
        models = [r["model"] for r in await conn.fetch("SELECT model FROM events")]
    finally:
        await conn.close()
    assert {r["task_id"]: r["p"] for r in rows} == {"t1": "0", "t2": "0", "t3": "0", "J1": "0"}
    assert all(m.startswith(b'{"event_id"') for m in models)  # the whole JSON, as bytes
    await assert_reads_as_reference(upgraded, reference)

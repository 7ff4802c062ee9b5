"""SQLiteStore: the conformance suite, plus what only SQLite has (WAL, migrations, threads)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest

from batchrelay.errors import ConfigError, NotReadyError, StoreError
from batchrelay.store.base import CommitOutcome, Inbound, TaskQuery
from batchrelay.store.sqlite.migrate import (
    apply_migrations,
    bundled_migrations,
    load_migrations,
    split_statements,
)
from batchrelay.store.sqlite.statements import Rows
from batchrelay.store.sqlite.store import SQLiteStore

from ..conformance import commit_all, commit_concurrently
from ..factories import RECEIVED, event_stream, imm_batch, imm_task, inbound


@asynccontextmanager
async def opened(path: Path, **options: Any) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(path, **options)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


# --------------------------------------------------------------------------- file


async def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    async with opened(tmp_path / "x.db"):
        assert query(tmp_path / "x.db", "PRAGMA journal_mode") == [("wal",)]


async def test_data_and_schema_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "x.db"  # parent directories are created
    async with opened(path) as store:
        await commit_concurrently(store, event_stream(seed=11, batches=3))
        before = await store.ledger_snapshot()
    async with opened(path) as store:
        assert await store.ledger_snapshot() == before
        assert await store.commit(inbound(imm_task("new", "running", 1))) == "committed"
        await store.rebuild_ledger()
        after = await store.ledger_snapshot()
    assert after["tasks"].keys() == before["tasks"].keys() | {"new"}
    applied = query(path, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied[0] == (1, "initial")
    assert applied == [(m.version, m.name) for m in bundled_migrations()]  # each one, once


async def test_a_wiped_ledger_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with opened(path) as store:
        await commit_concurrently(store, event_stream(seed=5, batches=3))
        before = await store.ledger_snapshot()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM batches")
        conn.execute("UPDATE tasks SET status = 'running'")
    async with opened(path) as store:
        assert await store.ledger_snapshot() != before
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == before


async def test_reads_do_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with opened(path) as store:
        await store.commit(inbound(imm_batch("B", "running", 1)))
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            other.execute("UPDATE batches SET state = 'failed'")
            batch = await asyncio.wait_for(store.get_batch("B"), timeout=2)
            assert batch is not None and batch.state == "running"  # last committed state
            other.execute("ROLLBACK")


# --------------------------------------------------------------------------- migrations


async def test_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with opened(path):
        pass
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert apply_migrations(conn, bundled_migrations()) == []
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert {"events", "batches", "tasks", "batch_error_codes", "project_totals"} <= tables
    assert {"quarantine", "schema_migrations"} <= tables


def test_migrations_run_in_version_order_and_fail_atomically(tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("INSERT INTO t VALUES (2);\n")
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (v INTEGER);\n")
    (tmp_path / "README.md").write_text("not a migration")
    with closing(sqlite3.connect(tmp_path / "x.db", isolation_level=None)) as conn:
        assert apply_migrations(conn, load_migrations(tmp_path)) == [1, 2]
        (tmp_path / "0003_broken.sql").write_text(
            "CREATE TABLE u (v INTEGER);\nINSERT INTO t VALUES (3);\nINSERT INTO nope VALUES (1);\n"
        )
        with pytest.raises(StoreError, match="0003_broken"):
            apply_migrations(conn, load_migrations(tmp_path))
        assert conn.execute("SELECT v FROM t").fetchall() == [(2,)]
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'u'").fetchall() == []
        versions = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert versions.fetchall() == [(1,), (2,)]


def test_statements_are_split_where_sqlite_would_split_them() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (v TEXT DEFAULT 'a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET v = 'x;y';
    END;
    -- trailing comment
    """
    statements = list(split_statements(script))
    assert len(statements) == 2
    assert statements[1].endswith("END;")


# --------------------------------------------------------------------------- writer


def wal_restarts(path: Path) -> int:
    """The WAL header's checkpoint sequence number: how often the WAL started over."""
    header = path.with_name(path.name + "-wal").read_bytes()[:32]
    return int.from_bytes(header[12:16], "big") if len(header) == 32 else 0


async def test_the_wal_is_checkpointed_off_the_commit_path(tmp_path: Path) -> None:
    """The checkpointer copies each commit back while the writer goes on, so the WAL
    starts over long before the writer's own threshold (wal_autocheckpoint)."""
    path = tmp_path / "x.db"
    async with opened(path) as store:
        for n in range(40):  # a few hundred pages in all, far below the threshold
            await store.commit(inbound(imm_task(f"t{n}", "running", n)))
            for _ in range(200):  # give the checkpointer its turn (bounded: 2 s)
                if store.checkpointer.passes > n:
                    break
                await asyncio.sleep(0.01)
        assert store.checkpointer.passes >= 40
        assert store.checkpointer.copied == store.checkpointer.frames > 0
        assert wal_restarts(path) > 0
    assert query(path, "SELECT count(*) FROM tasks") == [(40,)]


async def test_a_store_without_checkpoints_still_closes(tmp_path: Path) -> None:
    async with opened(tmp_path / "x.db") as store:
        assert store.checkpointer.passes == 0  # nothing written, nothing to copy
    assert query(tmp_path / "x.db", "SELECT count(*) FROM events") == [(0,)]


async def test_groups_are_bounded_by_max_group(tmp_path: Path) -> None:
    groups: list[int] = []
    hook = lambda size, seconds: groups.append(size)  # noqa: E731  # a one-line recorder
    async with opened(tmp_path / "x.db", max_group=10, on_group_commit=hook) as store:
        events = [imm_task(f"t{n}", "running", n) for n in range(35)]
        await commit_concurrently(store, events)
        assert groups == [10, 10, 10, 5]
        assert (store.groups, store.last_group_size) == (4, 5)
        assert store.last_commit_seconds > 0


async def test_a_full_queue_makes_callers_wait_not_fail(tmp_path: Path) -> None:
    async with opened(tmp_path / "x.db", queue_size=2, max_group=3) as store:
        events = [imm_task(f"t{n}", "running", n) for n in range(40)]
        outcomes = await commit_concurrently(store, events)
        assert outcomes == [CommitOutcome.COMMITTED] * 40


async def test_a_failing_hook_does_not_stop_the_writer(tmp_path: Path) -> None:
    def hook(size: int, seconds: float) -> None:
        raise RuntimeError("metrics are broken")

    async with opened(tmp_path / "x.db", on_group_commit=hook) as store:
        assert await store.commit(inbound(imm_task("t1", "running", 1))) == "committed"
        assert await store.commit(inbound(imm_task("t2", "running", 1))) == "committed"


async def test_a_cancelled_caller_does_not_disturb_the_others(tmp_path: Path) -> None:
    async with opened(tmp_path / "x.db") as store:
        events = [imm_task(f"t{n}", "running", n, batch_key="B") for n in range(20)]
        calls = [asyncio.ensure_future(store.commit(inbound(e))) for e in events]
        await asyncio.sleep(0)
        calls[3].cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(results[3], asyncio.CancelledError)
        assert results.count(CommitOutcome.COMMITTED) == 19
        # the cancelled caller's work was already queued, so it may have committed anyway:
        # at-least-once, and its redelivery will be a duplicate
        page = await store.list_tasks(TaskQuery(batch_key="B"))
        assert len(page.items) in (19, 20)


async def test_a_large_burst_needs_few_transactions(tmp_path: Path) -> None:
    groups: list[int] = []
    hook = lambda size, seconds: groups.append(size)  # noqa: E731  # a one-line recorder
    async with opened(tmp_path / "x.db", on_group_commit=hook) as store:
        events = event_stream(seed=3, batches=12, tasks_per_batch=150)
        await commit_concurrently(store, events)
    assert sum(groups) == len(events) > 2000
    assert len(groups) <= len(events) // 512 + 2


async def test_a_dead_writer_refuses_commits_and_still_closes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db")
    await store.start()
    writer_task = store._writer._task  # white box: no public way to kill the writer
    assert writer_task is not None
    writer_task.cancel()
    await asyncio.wait([writer_task])
    with pytest.raises(NotReadyError):
        await store.commit(inbound(imm_task("t1", "running", 1)))
    with pytest.raises(NotReadyError):
        await store.ping()
    await store.close()


@pytest.mark.parametrize(
    "options",
    [{"synchronous": "OFF"}, {"max_group": 0}, {"queue_size": 0}, {"readers": 0}],
)
def test_bad_options_are_config_errors(tmp_path: Path, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SQLiteStore(tmp_path / "x.db", **options)


async def test_synchronous_normal_is_accepted(tmp_path: Path) -> None:
    async with opened(tmp_path / "x.db", synchronous="NORMAL") as store:
        assert await store.commit(inbound(imm_task("t1", "running", 1))) == "committed"


# --------------------------------------------------------------------------- group paths


def unstorable(n: int) -> Inbound:
    """An item the writer cannot bind: its whole group is redone one request at a time."""
    event = imm_task(f"unstorable-{n}", "running", n, batch_key="B")
    return Inbound(event=event, raw=object(), received_at=RECEIVED)  # type: ignore[arg-type]


async def test_groups_redone_one_request_at_a_time_give_the_same_ledger(tmp_path: Path) -> None:
    events = event_stream(seed=13)
    async with opened(tmp_path / "reference.db") as reference:
        await commit_concurrently(reference, events)
        expected = await reference.ledger_snapshot()
    async with opened(tmp_path / "x.db", max_group=7) as store:
        calls = [store.commit(inbound(event)) for event in events]
        for n in range(0, len(calls), 5):  # a failing request in every group
            calls.insert(n, store.commit(unstorable(n)))
        results = await asyncio.gather(*calls, return_exceptions=True)
        failed = [result for result in results if isinstance(result, StoreError)]
        assert len(failed) == len(calls) - len(events)
        assert await store.ledger_snapshot() == expected
        assert await store.rebuild_ledger() == len({event.event_id for event in events})
        assert await store.ledger_snapshot() == expected


async def test_the_batch_cache_follows_writes_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with opened(path) as store:
        await commit_all(store, [imm_batch("B", "running", 1), imm_task("t1", "running", 2)])
        with closing(sqlite3.connect(path)) as other, other:
            other.execute("UPDATE batches SET phase = 'set elsewhere', events = 40")
        await store.commit(inbound(imm_task("t2", "running", 3, batch_key="B")))
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.phase, batch.events) == ("set elsewhere", 41)


async def test_a_rebuild_among_queued_commits_sees_all_of_them(tmp_path: Path) -> None:
    events = event_stream(seed=17)
    async with opened(tmp_path / "reference.db") as reference:
        await commit_all(reference, events)
        expected = await reference.ledger_snapshot()
    async with opened(tmp_path / "x.db") as store:
        half = len(events) // 2
        calls = [store.commit(inbound(event)) for event in events[:half]]
        calls.append(store.rebuild_ledger())
        calls += [store.commit(inbound(event)) for event in events[half:]]
        results = await asyncio.gather(*calls)
        assert results[half] == len({event.event_id for event in events[:half]})
        assert await store.ledger_snapshot() == expected


def test_multi_row_statements_fit_the_variable_limit() -> None:
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE t (a, b, c)")
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)  # three rows per statement
        Rows("t", "a, b, c").run(conn, [(n, n, n) for n in range(100)])
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)
        Rows("t", "a, b, c").run(conn, [(n, n, n) for n in range(100, 250)])
        assert conn.execute("SELECT count(*), sum(a) FROM t").fetchone() == (250, sum(range(250)))

"""PostgresStore: what only PostgreSQL has (replicas in several processes, migrations under
a lock, the commit hook, a server that goes away and comes back). The conformance suite runs
against it through ``conftest.make_store``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import pytest

from batchrelay.errors import ConfigError, InputReason, NotReadyError, StoreError
from batchrelay.events.models import Event
from batchrelay.store.base import BatchQuery, CommitOutcome, Inbound, QuarantineRecord, TaskQuery
from batchrelay.store.postgres.migrate import bundled_migrations
from batchrelay.store.postgres.store import PostgresStore
from tests.pg import Cluster, running_postgres

from ..conformance import commit_all, commit_concurrently
from ..conftest import PostgresStoreFactory, SQLiteStoreFactory
from ..factories import RECEIVED, event_stream, imm_batch, imm_task, inbound
from ..pg_replica import BATCHES, TASKS, share

COMMITTED, DUPLICATE = CommitOutcome.COMMITTED, CommitOutcome.DUPLICATE
ROOT = Path(__file__).parents[3]


async def fetch(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


# --------------------------------------------------------------------------- migrations


async def test_replicas_starting_together_migrate_once(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    dsn = await postgres_store_factory.dsn("fresh")
    await asyncio.gather(*(postgres_store_factory("fresh") for _ in range(3)))
    applied = await fetch(dsn, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [(m.version, m.name) for m in bundled_migrations()]
    assert applied[0] == (1, "initial")
    tables = await fetch(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert {"events", "batches", "tasks", "quarantine", "outbox", "deliveries"} <= {
        name for (name,) in tables
    }
    again = await postgres_store_factory("fresh")  # a restart finds nothing to do
    await again.ping()


# --------------------------------------------------------------------------- same as SQLite


async def test_the_same_events_give_the_same_ledger_and_pages_as_sqlite(
    sqlite_store_factory: SQLiteStoreFactory, postgres_store_factory: PostgresStoreFactory
) -> None:
    events = event_stream(seed=21)
    lite, pg = await sqlite_store_factory(), await postgres_store_factory()
    await commit_concurrently(lite, events)
    await commit_concurrently(pg, list(reversed(events)))
    expected = await lite.ledger_snapshot()
    snapshot = await pg.ledger_snapshot()
    assert json.dumps(snapshot) == json.dumps(expected)  # equal down to the key order
    for query in (BatchQuery(max_results=2), BatchQuery(sort="UpdateTime", order="ASC")):
        assert await pg.list_batches(query) == await lite.list_batches(query)
    tasks = TaskQuery(batch_key="batch-0", max_results=7, search="T1")
    assert await pg.list_tasks(tasks) == await lite.list_tasks(tasks)
    assert await pg.batch_state_counts() == await lite.batch_state_counts()


async def test_replicas_in_separate_processes_keep_the_exact_ledger(
    sqlite_store_factory: SQLiteStoreFactory, postgres_store_factory: PostgresStoreFactory
) -> None:
    seed, replicas = 8, 3
    events = event_stream(seed, batches=BATCHES, tasks_per_batch=TASKS)
    reference = await sqlite_store_factory()
    await commit_all(reference, events)
    dsn = await postgres_store_factory.dsn("replicas")
    await postgres_store_factory("replicas")  # migrated before the race
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.pg_replica",
            dsn,
            str(seed),
            str(n),
            str(replicas),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(replicas)
    ]
    results = []
    try:
        async with asyncio.timeout(120):
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            for child in children:  # all replicas start committing together
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                await child.stdin.drain()
            for child in children:
                out, _ = await child.communicate()
                assert child.returncode == 0
                results.append(json.loads(out))
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
    outcomes = [outcome for result in results for outcome in result["outcomes"]]
    assert len(outcomes) == sum(len(share(seed, n, replicas)) for n in range(replicas))
    assert outcomes.count("committed") == len({event.event_id for event in events})
    store = await postgres_store_factory("replicas")
    assert await store.ledger_snapshot() == await reference.ledger_snapshot()


async def test_a_rebuild_while_another_replica_commits(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    events = event_stream(seed=9)
    reference = await postgres_store_factory("reference")
    await commit_all(reference, events)
    one, other = await postgres_store_factory("shared"), await postgres_store_factory("shared")
    half = len(events) // 2
    await commit_concurrently(one, events[:half])
    rebuild = asyncio.ensure_future(other.rebuild_ledger())
    await asyncio.gather(*(one.commit(inbound(event)) for event in events[half:]))
    assert await rebuild >= len({event.event_id for event in events[:half]})
    assert await other.ledger_snapshot() == await reference.ledger_snapshot()


# --------------------------------------------------------------------------- commit hook


class ObligationHook:
    """A commit hook that writes one row per event, and fails for the event ids it is told."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.fail_for = fail_for or set()

    async def __call__(self, conn: asyncpg.Connection, event: Event) -> None:
        await conn.execute("INSERT INTO obligations (event_id) VALUES ($1)", event.event_id)
        if event.event_id in self.fail_for:
            raise RuntimeError("routing failed")


@pytest.fixture
async def hooked(
    postgres_store_factory: PostgresStoreFactory,
) -> AsyncIterator[tuple[PostgresStore, ObligationHook, str]]:
    dsn = await postgres_store_factory.dsn()
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE obligations (event_id TEXT NOT NULL)")
    await conn.close()
    hook = ObligationHook()
    yield await postgres_store_factory(on_commit=hook), hook, dsn


async def obligations(dsn: str) -> list[str]:
    return [event_id for (event_id,) in await fetch(dsn, "SELECT event_id FROM obligations")]


async def test_the_hook_writes_in_the_commit_transaction_of_new_events(
    hooked: tuple[PostgresStore, ObligationHook, str],
) -> None:
    store, _, dsn = hooked
    first, second = imm_task("t1", "running", 1, batch_key="B"), imm_task("t2", "running", 2)
    assert await store.commit_many([inbound(first), inbound(second), inbound(first)]) == [
        COMMITTED, COMMITTED, DUPLICATE,
    ]  # fmt: skip
    assert await store.commit(inbound(first)) == DUPLICATE
    assert sorted(await obligations(dsn)) == sorted([first.event_id, second.event_id])


async def test_what_the_hook_wrote_is_rolled_back_with_a_failed_commit(
    hooked: tuple[PostgresStore, ObligationHook, str],
) -> None:
    store, hook, dsn = hooked
    good = [imm_task(f"t{n}", "running", n, batch_key="B") for n in range(6)]
    doomed = imm_task("doomed", "running", 9, batch_key="B")
    hook.fail_for.add(doomed.event_id)
    calls: list[Awaitable[Any]] = [store.commit(inbound(event)) for event in good[:3]]
    calls += [store.commit_many([inbound(good[3]), inbound(doomed)])]
    calls += [store.commit(inbound(event)) for event in good[4:]]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[:3] == [COMMITTED] * 3 and results[4:] == [COMMITTED] * 2
    assert isinstance(results[3], StoreError)
    # the failed call left nothing: neither its events nor their obligations
    assert sorted(await obligations(dsn)) == sorted(e.event_id for e in good[:3] + good[4:])
    batch = await store.get_batch("B")
    assert batch is not None and batch.events == 5
    hook.fail_for.clear()
    assert await store.commit_many([inbound(good[3]), inbound(doomed)]) == [COMMITTED] * 2
    assert len(await obligations(dsn)) == 7


# --------------------------------------------------------------------------- server down


@pytest.fixture
def own_cluster() -> Any:
    """A cluster of this test's own, since the test stops it."""
    with running_postgres() as cluster:
        yield cluster


async def test_a_stopped_server_gives_store_errors_and_the_store_recovers(
    own_cluster: Cluster,
) -> None:
    dsn = await own_cluster.create_database()
    store = PostgresStore(dsn, min_size=2, max_size=4, timeout=5)
    await store.start()
    try:
        assert await store.commit(inbound(imm_batch("B", "running", 1))) == COMMITTED
        own_cluster.stop()
        for n in range(2):  # the pooled connections are dead, then none can be made
            with pytest.raises(StoreError):
                await store.commit(inbound(imm_task(f"lost{n}", "running", 2, batch_key="B")))
            with pytest.raises(StoreError):
                await store.ping()
            with pytest.raises(StoreError):
                await store.get_batch("B")
            with pytest.raises(StoreError):
                await store.quarantine(
                    QuarantineRecord("replay", InputReason.EMPTY, "", b"", {}, RECEIVED)
                )
        own_cluster.start()
        late = imm_task("late", "running", 3, batch_key="B")
        assert await store.commit(inbound(late)) == COMMITTED
        await store.ping()
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.events, batch.task_counts) == (2, {"running": 1})
    finally:
        await store.close()


async def test_start_fails_with_a_store_error_when_the_server_is_unreachable(
    postgres_cluster: Cluster,
) -> None:
    dsn = postgres_cluster.dsn("no_such_database")
    with pytest.raises(StoreError):
        await PostgresStore(dsn, timeout=5).start()


# --------------------------------------------------------------------------- writer


async def test_groups_are_bounded_by_max_group(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    groups: list[int] = []
    store = await postgres_store_factory(on_group_commit=lambda n, _: groups.append(n),
                                         max_group=10)  # fmt: skip
    outcomes = await commit_concurrently(
        store, [imm_task(f"t{n}", "running", n) for n in range(35)]
    )
    assert outcomes == [COMMITTED] * 35
    assert groups == [10, 10, 10, 5]
    assert (store.groups, store.last_group_size) == (4, 5)


async def test_a_cancelled_caller_does_not_disturb_the_others(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    store = await postgres_store_factory()
    events = [imm_task(f"t{n}", "running", n, batch_key="B") for n in range(20)]
    calls = [asyncio.ensure_future(store.commit(inbound(e))) for e in events]
    await asyncio.sleep(0)
    calls[3].cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert results.count(COMMITTED) == 19
    page = await store.list_tasks(TaskQuery(batch_key="B"))
    assert len(page.items) in (19, 20)  # the cancelled work may have committed anyway


async def test_reads_after_close_are_not_ready(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    store = await postgres_store_factory()
    await store.close()
    with pytest.raises(NotReadyError):
        await store.get_batch("B")
    with pytest.raises(NotReadyError):
        await store.rebuild_ledger()


@pytest.mark.parametrize(
    "options",
    [{"min_size": 5, "max_size": 2}, {"max_size": 0}, {"timeout": 0}, {"max_group": 0},
     {"queue_size": 0}],
)  # fmt: skip
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PostgresStore("postgresql://127.0.0.1/x", **options)


async def test_an_unstorable_item_fails_alone(postgres_store_factory: PostgresStoreFactory) -> None:
    store = await postgres_store_factory()
    bad = Inbound(event=imm_task("bad", "running", 1), raw=object(), received_at=RECEIVED)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.commit(bad)
    assert await store.commit(inbound(imm_task("good", "running", 1))) == COMMITTED

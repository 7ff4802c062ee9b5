"""The outbox on PostgreSQL (``store/postgres/outbox.py``): the same results as the SQLite
outbox for the same calls, and what several replicas need (claims that never overlap,
expired leases taken again)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import pytest

from batchrelay.delivery.hold import plan
from batchrelay.events.models import Event
from batchrelay.routing.tree import RouteMatch
from batchrelay.store.postgres import outbox as pg
from batchrelay.store.postgres.store import PostgresStore
from batchrelay.store.sqlite import outbox as lite

from ..conftest import PostgresStoreFactory, SQLiteStoreFactory
from ..factories import imm_task, inbound

SECOND = lite.SECOND
NOW = 1_000 * SECOND
LEASE = 60 * SECOND


def match(receiver: str = "hook", group: str = "g", wait: float = 10, interval: float = 60) -> Any:
    return RouteMatch(
        route="root/0", name=None, receiver=receiver, group_key=f'["{group}"]', group_labels=(),
        group_wait=wait, group_interval=interval, repeat_interval=3600, muted=False,
    )  # fmt: skip


def view(event: Event) -> dict[str, Any]:
    return event.normalized()


def never_muted(receiver: str, route: str) -> bool:
    return False


async def flush_call(
    call: Outbox,
    now: int,
    max_events: Any,
    muted: Any,
    check: Any = None,
) -> int:
    """Flush every due group as the dispatcher does, through ``call``: read, decide, write."""
    groups = await call("due_groups", now)
    return int(await call("flush", plan(groups, muted, check, max_events), now))


class Outbox:
    """The outbox functions of one store, each run in a write transaction of that store
    (the SQLite store runs the plain functions on its writer, PostgreSQL awaits its own)."""

    def __init__(self, store: Any, module: Any) -> None:
        self.store = store
        self.module = module

    async def __call__(self, name: str, *args: Any) -> Any:
        function = getattr(self.module, name)
        return await self.store.write(lambda conn: function(conn, *args))


@pytest.fixture
async def pg_store(postgres_store_factory: PostgresStoreFactory) -> PostgresStore:
    return await postgres_store_factory()


@pytest.fixture
async def pg_outbox(pg_store: PostgresStore) -> Outbox:
    return Outbox(pg_store, pg)


async def scenario(call: Outbox) -> dict[str, Any]:
    """Obligations in two groups, flushed, claimed, failed, dead-lettered, replayed,
    coalesced, copied to a fallback; returns what can be compared across stores."""
    events = [imm_task(f"t{n}", "failed", n, batch_key="B" if n < 4 else "C") for n in range(6)]
    for n, event in enumerate(events):
        matches = [match(group="a" if n % 2 else "b")]
        if n == 0:
            matches.append(match(receiver="chat", group="a", wait=0))
        await call("add_obligations", view(event), matches, NOW + n)
    seen: dict[str, Any] = {"depth_before": await call("depth")}
    seen["flushed_early"] = await flush_call(call, NOW + SECOND, lambda _: 2, never_muted)
    seen["flushed"] = await flush_call(call, NOW + 20 * SECOND, lambda _: 2, never_muted)
    claimed = await call("claim_due", NOW + 20 * SECOND, LEASE, 100)
    # deliveries due at the same moment come in no particular order: put them in one
    claimed.sort(key=lambda d: (d.receiver, d.group_key, [e["event_id"] for e in d.events]))
    seen["claimed"] = [(d.receiver, d.batch_key, d.digest, d.attempts,
                        [e["event_id"] for e in d.events]) for d in claimed]  # fmt: skip
    first, second, third, *rest = claimed
    later = NOW + 30 * SECOND
    await call("record_attempt", first, "retry", later, 0.5, "server_error", "502", later + 5)
    await call("record_attempt", second, "dead", later, 0.25, "client_error", "400")
    await call("record_attempt", third, "delivered", later, 0.1)
    seen["replayed"] = [await call("replay", second.id, later + 1),
                        await call("replay", third.id, later + 1)]  # fmt: skip
    await call("postpone", [d.id for d in rest[:1]], later + 50, later)
    digests = await call("coalesce", rest[1:], 3, later + 2)
    merged = await call("claim", digests, later + 3, LEASE)
    seen["digests"] = [(d.digest, d.receiver, [e["event_id"] for e in d.events]) for d in merged]
    copy = await call("copy_to", merged[0], "fallback", later + 4)
    seen["copy"] = await call("events_of", copy)
    listed = await call("list_deliveries", None, None, 100, "")
    names = {row["id"]: n for n, row in enumerate(sorted(listed, key=_stable))}
    seen["listed"] = sorted(
        ({**row, "id": names[row["id"]], "replay_of": names.get(row["replay_of"])}
         for row in listed),
        key=lambda row: row["id"],
    )  # fmt: skip
    page = await call("list_deliveries", None, "B", 2, "")
    rest_page = await call("list_deliveries", None, "B", 100,
                           f"{page[-1]['updated_at']}:{page[-1]['id']}")  # fmt: skip
    seen["paged"] = len(page) + len(rest_page) == len(
        await call("list_deliveries", None, "B", 100, "")
    )
    seen["dead"] = len(await call("list_deliveries", "dead", None, 100, ""))
    seen["depth_after"] = await call("depth")
    return seen


def _stable(row: dict[str, Any]) -> tuple[Any, ...]:
    """An order that does not depend on the random delivery ids."""
    return (row["created_at"], row["receiver"], row["group_key"], row["events"], row["state"],
            row["digest"], row["batch_key"] or "", row["updated_at"])  # fmt: skip


async def test_the_same_calls_give_the_same_outbox_as_sqlite(
    pg_outbox: Outbox, sqlite_store_factory: SQLiteStoreFactory
) -> None:
    sqlite = Outbox(await sqlite_store_factory(), lite)
    expected = await scenario(sqlite)
    assert expected["flushed"] and expected["dead"] == 0 and expected["paged"]
    assert json.dumps(await scenario(pg_outbox), sort_keys=True) == json.dumps(
        expected, sort_keys=True
    )


# --------------------------------------------------------------------------- replicas


async def pending_deliveries(call: Outbox, count: int) -> None:
    """``count`` deliveries due at ``NOW``, one event each."""
    for n in range(count):
        await call("add_obligations", view(imm_task(f"t{n}", "failed", n)),
                   [match(group=f"g{n}", wait=0)], NOW)  # fmt: skip
    assert await flush_call(call, NOW, lambda _: 100, never_muted) == count


@pytest.fixture
async def connections(pg_store: PostgresStore, postgres_store_factory: PostgresStoreFactory
                      ) -> AsyncIterator[list[asyncpg.Connection]]:  # fmt: skip
    dsn = await postgres_store_factory.dsn()
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    yield conns
    for conn in conns:
        await conn.close()


async def test_a_claim_in_progress_is_skipped_not_waited_for(
    pg_outbox: Outbox, connections: list[asyncpg.Connection]
) -> None:
    await pending_deliveries(pg_outbox, 6)
    one, other = connections[:2]
    async with one.transaction():  # a replica in the middle of claiming: its rows are locked
        first = await pg.claim_due(one, NOW, LEASE, 4)
        second = await asyncio.wait_for(pg.claim_due(other, NOW, LEASE, 4), timeout=10)
    assert len(first) == 4 and len(second) == 2
    assert not {d.id for d in first} & {d.id for d in second}
    assert await pg.claim_due(other, NOW, LEASE, 10) == []  # all leased now


async def test_concurrent_claimers_never_get_the_same_delivery(
    pg_outbox: Outbox, connections: list[asyncpg.Connection]
) -> None:
    await pending_deliveries(pg_outbox, 60)

    async def claimer(conn: asyncpg.Connection) -> list[str]:
        taken: list[str] = []
        while batch := await pg.claim_due(conn, NOW, LEASE, 3):
            taken += [d.id for d in batch]
            await asyncio.sleep(0)  # let the other claimers in between
        return taken

    claims = await asyncio.gather(*(claimer(conn) for conn in connections))
    every = [delivery_id for taken in claims for delivery_id in taken]
    assert len(every) == len(set(every)) == 60
    assert sum(1 for taken in claims if taken) > 1  # they really competed


async def test_an_expired_lease_is_claimed_again(pg_outbox: Outbox) -> None:
    await pending_deliveries(pg_outbox, 1)
    [claimed] = await pg_outbox("claim_due", NOW, LEASE, 10)
    assert await pg_outbox("claim_due", NOW + LEASE - 1, LEASE, 10) == []  # the sender lives
    [again] = await pg_outbox("claim_due", NOW + LEASE, LEASE, 10)  # the sender died
    assert (again.id, again.attempts, again.events) == (claimed.id, 0, claimed.events)
    [row] = await pg_outbox("list_deliveries", "sending", None, 10, "")
    assert row["id"] == claimed.id


async def test_obligations_roll_back_with_their_commit(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    async def route(conn: asyncpg.Connection, event: Event) -> None:
        await pg.add_obligations(conn, view(event), [match()], NOW)
        if event.event_id.startswith("task:doomed"):
            raise RuntimeError("routing failed")

    store = await postgres_store_factory(on_commit=route)
    await store.commit(inbound(imm_task("t1", "failed", 1)))
    with pytest.raises(Exception):  # noqa: B017  # the store's error for the failed commit
        await store.commit(inbound(imm_task("doomed", "failed", 2)))
    assert await store.read(pg.depth) == {"events": 1, "deliveries": 0}


async def test_a_check_keeps_events_back_in_their_own_state(pg_outbox: Outbox) -> None:
    for n in range(3):
        await pg_outbox("add_obligations", view(imm_task(f"t{n}", "failed", n)), [match(wait=0)],
                        NOW)  # fmt: skip

    def check(seen: dict[str, Any]) -> str | None:
        return "silenced" if seen["task_id"] == "t1" else None

    made = await flush_call(pg_outbox, NOW, lambda _: 100, lambda *_: True, check)
    assert made == 2
    states = sorted(row["state"] for row in await pg_outbox("list_deliveries", None, None, 9, ""))
    assert states == ["muted", "silenced"]

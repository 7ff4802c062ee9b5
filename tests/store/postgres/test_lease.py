"""The lease row on PostgreSQL (``store/postgres/lease.py``): one holder at a time, even
when replicas race for it; expiry hands it over, renewal extends it, release frees it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from batchrelay.store.coordination import LeaseKeeper
from batchrelay.store.postgres.lease import PostgresLease
from batchrelay.store.postgres.store import PostgresStore
from tests.fakes import FakeClock
from tests.pg import Cluster, running_postgres

from ..conftest import PostgresStoreFactory

T = 1_800_000_000.0  # seconds, the callers' clock
TTL = 10.0


@pytest.fixture
async def lease(postgres_store_factory: PostgresStoreFactory) -> PostgresLease:
    return PostgresLease(await postgres_store_factory())


async def test_of_many_holders_racing_from_their_own_connections_exactly_one_wins(
    postgres_store_factory: PostgresStoreFactory,
) -> None:
    # four replicas of four connections each: sixteen acquires in flight at once
    stores = [await postgres_store_factory() for _ in range(4)]  # max_size=4 each
    leases = [PostgresLease(store) for store in stores]
    for name in ("coordinator", "other", "third"):
        got = await asyncio.gather(
            *(leases[n % 4].acquire(name, f"h{n}", TTL, T) for n in range(16))
        )
        assert got.count(True) == 1, got
        winner = f"h{got.index(True)}"
        # the winner holds it; every other holder still cannot take it
        assert await leases[1].acquire(name, winner, TTL, T + 1)
        assert not any(
            await asyncio.gather(*(leases[n % 4].acquire(name, f"h{n}", TTL, T + 1)
                                   for n in range(16) if f"h{n}" != winner))
        )  # fmt: skip


async def test_an_expired_lease_is_handed_over(lease: PostgresLease) -> None:
    assert await lease.acquire("coordinator", "a", TTL, T)
    assert not await lease.acquire("coordinator", "b", TTL, T + TTL - 0.001)
    assert await lease.acquire("coordinator", "b", TTL, T + TTL)
    assert not await lease.acquire("coordinator", "a", TTL, T + TTL)  # too late to renew


async def test_the_holder_renews_and_extends_its_lease(lease: PostgresLease) -> None:
    assert await lease.acquire("coordinator", "a", TTL, T)
    assert await lease.acquire("coordinator", "a", TTL, T + 5)
    assert not await lease.acquire("coordinator", "b", TTL, T + TTL + 1)
    assert await lease.acquire("coordinator", "b", TTL, T + 5 + TTL)
    since = await row(lease, "coordinator")
    assert since["holder"] == "b" and since["acquired_at"] == int((T + 5 + TTL) * 1_000_000)
    assert await lease.acquire("coordinator", "b", TTL, T + 20)
    assert await row(lease, "coordinator") == {**since, "until": int((T + 20 + TTL) * 1_000_000)}


async def test_a_release_lets_another_take_it_at_once(lease: PostgresLease) -> None:
    assert await lease.acquire("coordinator", "a", TTL, T)
    await lease.release("coordinator", "b")  # not the holder: nothing changes
    assert not await lease.acquire("coordinator", "b", TTL, T + 1)
    await lease.release("coordinator", "a")
    assert await lease.acquire("coordinator", "b", TTL, T + 1)
    assert not await lease.acquire("coordinator", "a", TTL, T + 1)
    await lease.release("nothing-held", "a")


async def row(lease: PostgresLease, name: str) -> dict[str, Any]:
    found = await lease.store.read(
        lambda c: c.fetchrow("SELECT holder, until, acquired_at FROM leases WHERE name = $1", name)
    )
    assert found is not None
    return dict(found)


async def test_keepers_hold_one_at_a_time_and_hand_over_on_release(lease: PostgresLease) -> None:
    clock = FakeClock(T)
    a = LeaseKeeper(lease, TTL, holder="a", clock=clock)
    b = LeaseKeeper(lease, TTL, holder="b", clock=clock)
    assert await a.renew() and a.held
    assert not await b.renew() and not b.held
    await a.release()
    assert not a.held
    assert await b.renew() and b.held


@pytest.fixture
def own_cluster() -> Any:
    """A cluster of this test's own, since the test stops it."""
    with running_postgres() as cluster:
        yield cluster


async def test_a_keeper_that_cannot_reach_the_store_stops_holding(own_cluster: Cluster) -> None:
    store = PostgresStore(await own_cluster.create_database(), min_size=1, max_size=2, timeout=5)
    await store.start()
    try:
        clock = FakeClock(T)
        keeper = LeaseKeeper(PostgresLease(store), TTL, holder="a", clock=clock)
        assert await keeper.renew() and keeper.held
        own_cluster.stop()
        clock.now += 1  # well inside the lease: still, an unreachable store ends holding
        assert not await keeper.renew()
        assert not keeper.held
        own_cluster.start()
        assert await keeper.renew() and keeper.held  # its own lease: renewed
    finally:
        await store.close()

"""The lease keeper on a fake clock, with a lease that is taken, lost and unreachable."""

from __future__ import annotations

from dataclasses import dataclass, field

from batchrelay.errors import StoreError
from batchrelay.store.coordination import LeaseKeeper
from batchrelay.store.sqlite.lease import AlwaysHeld
from tests.fakes import FakeClock


@dataclass
class OneRow:
    """One lease row, as a store keeps it: a holder and an expiry."""

    holder: str = ""
    until: float = 0.0
    down: bool = False
    released: list[str] = field(default_factory=list)

    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> bool:
        if self.down:
            raise StoreError("connection refused")
        if self.holder in ("", holder) or self.until <= now:
            self.holder, self.until = holder, now + ttl
            return True
        return False

    async def release(self, name: str, holder: str) -> None:
        if self.holder == holder:
            self.until = 0.0
            self.released.append(holder)


async def test_one_holder_at_a_time_and_takeover_after_expiry() -> None:
    clock, row, changes = FakeClock(1000.0), OneRow(), []
    a = LeaseKeeper(row, ttl=15, holder="a", clock=clock, on_change=changes.append)
    b = LeaseKeeper(row, ttl=15, holder="b", clock=clock)
    assert await a.renew() and a.held
    assert not await b.renew() and not b.held
    clock.now += 5
    assert await a.renew()  # renewed every third of the ttl
    clock.now += 14  # a died after its last renewal: the row expires 15 s after it
    assert not a.held  # a itself stops trusting the lease before it runs out
    assert not await b.renew()
    clock.now += 1.5
    assert await b.renew() and b.held
    assert changes == [True]  # a has not looked since
    assert not await a.renew()
    assert changes == [True, False]


async def test_an_unreachable_store_means_not_held() -> None:
    clock, row = FakeClock(1000.0), OneRow()
    keeper = LeaseKeeper(row, ttl=9, holder="a", clock=clock)
    assert await keeper.renew()
    row.down = True
    assert not await keeper.renew()
    assert not keeper.held


async def test_release_hands_the_lease_over_at_once() -> None:
    clock, row = FakeClock(1000.0), OneRow()
    a = LeaseKeeper(row, ttl=15, holder="a", clock=clock)
    b = LeaseKeeper(row, ttl=15, holder="b", clock=clock)
    await a.renew()
    await a.release()
    assert not a.held and row.released == ["a"]
    assert await b.renew()


async def test_sqlite_always_holds() -> None:
    keeper = LeaseKeeper(AlwaysHeld(), ttl=3, clock=FakeClock(1000.0))
    assert await keeper.renew() and keeper.held

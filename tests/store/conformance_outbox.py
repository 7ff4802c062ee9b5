"""Outbox conformance: obligations at commit, group flushes, claims, attempts, dead letters.

Written against the ``Outbox`` contract only (``store/contracts.py``): each store gives
its outbox as ``store.outbox`` and routes in its commit hooks (``CommitHooks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from batchrelay.delivery.hold import plan
from batchrelay.errors import StoreError
from batchrelay.routing.obligations import Router
from batchrelay.routing.tree import RouteTree, RoutingConfig
from batchrelay.store.base import CommitOutcome, Store
from batchrelay.store.contracts import SECOND, Attempt, Delivery, Outbox
from tests.fakes import FakeClock

from .conformance_support import CommitHooks, StoreFactory, commit_all, flush_due, never_muted
from .factories import imm_task, inbound

START = 1_800_000_000.0  # the router's clock, seconds
NOW = int(START * SECOND)
WAIT, INTERVAL = 10 * SECOND, 60 * SECOND  # the route's group_wait and group_interval
LEASE = 30 * SECOND


def route_tree() -> RouteTree:
    route = {"receiver": "hook", "group_by": ["batch_key"], "group_wait": "10s",
             "group_interval": "60s"}  # fmt: skip
    return RouteTree(RoutingConfig.model_validate({"route": route}))


def up_to(n: int) -> Any:
    return lambda receiver: n


@dataclass
class Routed:
    """A store whose commits route every event to receiver ``hook``, grouped by batch."""

    store: Store
    outbox: Outbox
    clock: FakeClock

    async def commit_tasks(self, batch_key: str, *numbers: int) -> None:
        events = [imm_task(f"{batch_key}-{n}", "failed", n, batch_key=batch_key) for n in numbers]
        assert await commit_all(self.store, events) == [CommitOutcome.COMMITTED] * len(events)

    async def deliveries(self, *batch_keys: str) -> list[Delivery]:
        """One pending delivery per batch, flushed and claimed at ``NOW + WAIT``."""
        for key in batch_keys:
            await self.commit_tasks(key, 1)
        assert await flush_due(self.outbox, NOW + WAIT, up_to(100), never_muted) == len(batch_keys)
        claimed = await self.outbox.claim_due(NOW + WAIT, LEASE, 100)
        return sorted(claimed, key=lambda d: d.batch_key or "")

    async def states(self) -> list[str]:
        return sorted(row["state"] for row in await self.outbox.list_deliveries(None, None, 99, ""))


class OutboxConformance:
    @pytest.fixture
    async def routed(self, make_store: StoreFactory) -> Routed:
        clock = FakeClock(START)
        store = await make_store(hooks=CommitHooks(router=Router(route_tree(), clock)))
        return Routed(store, store.outbox, clock)

    async def test_obligations_are_written_with_new_events_and_never_for_duplicates(
        self, routed: Routed
    ) -> None:
        events = [imm_task("t1", "failed", 1, batch_key="B"), imm_task("t2", "failed", 2)]
        await commit_all(routed.store, events)
        assert await routed.outbox.depth() == {"events": 2, "deliveries": 0}
        again = await routed.store.commit_many([inbound(e) for e in events])
        assert again == [CommitOutcome.DUPLICATE] * 2
        assert await routed.outbox.depth() == {"events": 2, "deliveries": 0}

    async def test_obligations_roll_back_with_a_failed_commit(
        self, make_store: StoreFactory
    ) -> None:
        doomed = imm_task("doomed", "failed", 2, batch_key="D")
        hooks = CommitHooks(
            Router(route_tree(), FakeClock(START)), fail_for=frozenset({doomed.event_id})
        )
        store = await make_store(hooks=hooks)
        await commit_all(store, [imm_task("t1", "failed", 1, batch_key="B")])
        with pytest.raises(StoreError):
            await store.commit(inbound(doomed))
        assert await store.outbox.depth() == {"events": 1, "deliveries": 0}
        assert await store.get_batch("D") is None

    async def test_a_group_flushes_after_group_wait_then_every_group_interval(
        self, routed: Routed
    ) -> None:
        await routed.commit_tasks("B", 1, 2)
        await routed.commit_tasks("C", 3)
        outbox = routed.outbox
        assert await flush_due(outbox, NOW + WAIT - 1, up_to(100), never_muted) == 0
        assert await flush_due(outbox, NOW + WAIT, up_to(100), never_muted) == 2
        assert await outbox.depth() == {"events": 0, "deliveries": 2}
        assert await flush_due(outbox, NOW + WAIT, up_to(100), never_muted) == 0
        routed.clock.now = (
            NOW + 2 * WAIT
        ) / SECOND  # a new event soon after the flush waits its interval
        await routed.commit_tasks("B", 4)
        assert await flush_due(outbox, NOW + WAIT + INTERVAL - 1, up_to(9), never_muted) == 0
        assert await flush_due(outbox, NOW + WAIT + INTERVAL, up_to(9), never_muted) == 1

    async def test_a_group_that_gains_events_after_it_was_read_stays_due(
        self, routed: Routed
    ) -> None:
        await routed.commit_tasks("B", 1)
        groups = await routed.outbox.due_groups(NOW + WAIT)
        await routed.commit_tasks("B", 2)  # after the read, before the flush
        decided = plan(groups, never_muted, None, up_to(100))
        assert await routed.outbox.flush(decided, NOW + WAIT) == 1
        [late] = await routed.outbox.due_groups(NOW + WAIT)  # flushed by the next call
        assert [e.view["task_id"] for e in late.events] == ["B-2"]
        assert await flush_due(routed.outbox, NOW + WAIT) == 1
        assert await routed.outbox.due_groups(NOW + WAIT) == []

    async def test_a_flush_splits_a_group_by_max_events(self, routed: Routed) -> None:
        await routed.commit_tasks("B", 1, 2, 3, 4, 5)
        assert await flush_due(routed.outbox, NOW + WAIT, up_to(2), never_muted) == 3
        claimed = await routed.outbox.claim_due(NOW + WAIT, LEASE, 10)
        assert sorted(len(d.events) for d in claimed) == [1, 2, 2]
        every = sorted(e["task_id"] for d in claimed for e in d.events)
        assert every == [f"B-{n}" for n in range(1, 6)]

    async def test_a_check_holds_events_back_and_a_muted_route_records_the_rest(
        self, routed: Routed
    ) -> None:
        await routed.commit_tasks("B", 1, 2, 3)
        held = {"B-1": "silenced", "B-2": "inhibited"}

        def check(view: dict[str, Any]) -> str | None:
            return held.get(view["task_id"])

        made = await flush_due(routed.outbox, NOW + WAIT, up_to(100), never_muted, check)
        assert made == 3
        assert await routed.states() == ["inhibited", "pending", "silenced"]
        assert [d.events[0]["task_id"] for d in await routed.outbox.claim_due(
            NOW + WAIT, 10 * INTERVAL, 10)] == ["B-3"]  # fmt: skip
        await routed.commit_tasks("C", 4, 5)
        routed.clock.now = (NOW + INTERVAL) / SECOND
        muted = await flush_due(routed.outbox, NOW + INTERVAL, up_to(100), lambda r, route: True,
                                check)  # fmt: skip
        assert muted == 1
        assert (await routed.states()).count("muted") == 1
        assert await routed.outbox.claim_due(NOW + INTERVAL, LEASE, 10) == []

    async def test_a_claim_leases_and_an_expired_lease_is_claimed_again(
        self, routed: Routed
    ) -> None:
        [claimed] = await routed.deliveries("B")
        assert (claimed.receiver, claimed.batch_key, claimed.attempts) == ("hook", "B", 0)
        assert [e["task_id"] for e in claimed.events] == ["B-1"]
        assert await routed.outbox.claim_due(NOW + WAIT + LEASE - 1, LEASE, 10) == []
        [again] = await routed.outbox.claim_due(NOW + WAIT + LEASE, LEASE, 10)
        assert (again.id, again.attempts, again.events) == (claimed.id, 0, claimed.events)
        assert await routed.outbox.depth() == {"events": 0, "deliveries": 1}

    async def test_attempts_end_delivered_retried_or_dead(self, routed: Routed) -> None:
        ok, retried, dead = await routed.deliveries("A", "B", "C")
        later = NOW + 2 * WAIT
        outbox = routed.outbox
        await outbox.record_attempt(ok, "delivered", later, 0.1)
        await outbox.record_attempt(retried, "retry", later, 0.2, "server_error", "502",
                                    later + 5 * SECOND)  # fmt: skip
        await outbox.record_attempt(dead, "dead", later, 0.3, "client_error", "400")
        assert await routed.states() == ["dead", "delivered", "pending"]
        assert await outbox.claim_due(later + 5 * SECOND - 1, LEASE, 10) == []
        [due] = await outbox.claim_due(later + 5 * SECOND, LEASE, 10)
        assert (due.id, due.attempts, due.first_attempt_at) == (retried.id, 1, later)
        [row] = await outbox.list_deliveries("dead", None, 10, "")
        assert (row["id"], row["attempts"], row["last_reason"], row["last_detail"]) == (
            dead.id, 1, "client_error", "400",
        )  # fmt: skip
        assert await outbox.depth() == {"events": 0, "deliveries": 1}

    async def test_one_claim_spans_receivers_and_one_write_records_each_outcome(
        self, make_store: StoreFactory
    ) -> None:
        both = [{"receiver": "chat", "continue": True}, {"receiver": "hook"}]
        fan = {"receiver": "hook", "group_by": ["batch_key"], "group_wait": "10s", "routes": both}
        tree = RouteTree(RoutingConfig.model_validate({"route": fan}))
        store = await make_store(hooks=CommitHooks(router=Router(tree, FakeClock(START))))
        events = [imm_task(f"{key}-{n}", "failed", n, batch_key=key)
                  for key in ("A", "B") for n in (1, 2)]  # fmt: skip
        await commit_all(store, events)
        outbox = store.outbox
        assert await flush_due(outbox, NOW + WAIT, up_to(100), never_muted) == 4
        claimed = await outbox.claim_due(NOW + WAIT, LEASE, 100)
        got = sorted((d.receiver, d.batch_key, [e["task_id"] for e in d.events]) for d in claimed)
        assert got == [("chat", "A", ["A-1", "A-2"]), ("chat", "B", ["B-1", "B-2"]),
                       ("hook", "A", ["A-1", "A-2"]), ("hook", "B", ["B-1", "B-2"])]  # fmt: skip
        later = NOW + 2 * WAIT
        outcomes = ["delivered", "retry", "dead", "delivered"]
        await outbox.record_attempts([
            Attempt(d, outcome, later, 0.1, None if outcome == "delivered" else "server_error",
                    outcome, later + SECOND if outcome == "retry" else None)
            for d, outcome in zip(claimed, outcomes, strict=True)
        ])  # fmt: skip
        rows = {r["id"]: r for r in await outbox.list_deliveries(None, None, 10, "")}
        states = [(rows[d.id]["state"], rows[d.id]["attempts"]) for d in claimed]
        assert states == [("delivered", 1), ("pending", 1), ("dead", 1), ("delivered", 1)]
        assert rows[claimed[2].id]["last_detail"] == "dead"
        [again] = await outbox.claim_due(later + SECOND, LEASE, 10)
        assert (again.id, again.attempts, again.events) == (claimed[1].id, 1, claimed[1].events)
        assert len(await outbox.recent_attempts(later)) == 4

    async def test_recent_attempts_by_receiver_oldest_first(self, routed: Routed) -> None:
        first, second = await routed.deliveries("A", "B")
        outbox = routed.outbox
        await outbox.record_attempt(first, "retry", NOW + 20, 0.1, "server_error", "",
                                    NOW + 30)  # fmt: skip
        await outbox.record_attempt(second, "delivered", NOW + 25, 0.1)
        [again] = await outbox.claim_due(NOW + 30, LEASE, 10)
        await outbox.record_attempt(again, "delivered", NOW + 40, 0.1)
        assert await outbox.recent_attempts(NOW + 21) == [("hook", NOW + 25), ("hook", NOW + 40)]
        assert [at for _, at in await outbox.recent_attempts(0)] == [NOW + 20, NOW + 25, NOW + 40]

    async def test_a_replayed_dead_letter_keeps_its_id_with_a_fresh_budget(
        self, routed: Routed
    ) -> None:
        dead, alive = await routed.deliveries("A", "B")
        later = NOW + 2 * WAIT
        await routed.outbox.record_attempt(dead, "dead", later, 0.3, "client_error", "400")
        assert not await routed.outbox.replay(alive.id, later)  # only dead letters
        assert not await routed.outbox.replay("no-such-delivery", later)
        assert await routed.outbox.replay(dead.id, later + 1)
        assert not await routed.outbox.replay(dead.id, later + 2)  # pending now
        [row] = await routed.outbox.list_deliveries("pending", None, 10, "")
        assert (row["id"], row["replay_of"], row["attempts"]) == (dead.id, dead.id, 0)
        [again] = await routed.outbox.claim_due(later + 1, LEASE, 10)
        assert (again.id, again.attempts, again.first_attempt_at) == (dead.id, 0, None)
        assert again.events == dead.events

    async def test_coalesce_merges_deliveries_into_digests(self, routed: Routed) -> None:
        claimed = await routed.deliveries("A", "B", "C")
        later = NOW + 2 * WAIT
        digests = await routed.outbox.coalesce(claimed, 2, later)
        assert len(digests) == 2
        merged = await routed.outbox.claim(digests, later, LEASE)
        assert [d.digest for d in merged] == [True, True]
        assert sorted(e["task_id"] for d in merged for e in d.events) == ["A-1", "B-1", "C-1"]
        assert {d.id for d in merged} == set(digests)
        assert await routed.states() == ["coalesced"] * 3 + ["sending"] * 2
        assert await routed.outbox.claim_due(later + LEASE - 1, LEASE, 10) == []

    async def test_postpone_and_copy_to_a_fallback(self, routed: Routed) -> None:
        [claimed] = await routed.deliveries("B")
        later = NOW + 2 * WAIT
        await routed.outbox.postpone([claimed.id], later + SECOND, later)
        assert await routed.outbox.claim_due(later + SECOND - 1, LEASE, 10) == []
        [again] = await routed.outbox.claim_due(later + SECOND, LEASE, 10)
        assert (again.id, again.attempts) == (claimed.id, 0)
        copy_id = await routed.outbox.copy_to(again, "fallback", later)
        [copy] = await routed.outbox.claim([copy_id], later, LEASE)
        assert (copy.receiver, copy.batch_key, copy.events) == ("fallback", "B", again.events)

    async def test_deliveries_list_newest_first_in_pages(self, routed: Routed) -> None:
        claimed = await routed.deliveries("A", "B", "C", "D", "E")
        for n, delivery in enumerate(claimed):  # a distinct updated_at each, and one tie
            await routed.outbox.record_attempt(delivery, "dead", NOW + WAIT + min(n, 3), 0.1)
        everything = await routed.outbox.list_deliveries(None, None, 100, "")
        order = [(row["updated_at"], row["id"]) for row in everything]
        assert order == sorted(order, reverse=True) and len(order) == 5
        seen: list[str] = []
        before = ""
        while page := await routed.outbox.list_deliveries("dead", None, 2, before):
            assert len(page) <= 2
            seen += [row["id"] for row in page]
            before = f"{page[-1]['updated_at']}:{page[-1]['id']}"
        assert seen == [row["id"] for row in everything]
        [only] = await routed.outbox.list_deliveries(None, "C", 10, "")
        assert (only["batch_key"], only["digest"], only["events"]) == ("C", 0, 1)
        assert await routed.outbox.list_deliveries("delivered", None, 10, "") == []

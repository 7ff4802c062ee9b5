"""Subscription conformance: kept, matched in the commit transaction, logged, replayed,
disabled when failing; the same on every store (``store/subscriptions.py``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from batchrelay.routing.obligations import Router
from batchrelay.store.base import CommitOutcome, Store
from batchrelay.store.contracts import SECOND
from batchrelay.store.subscriptions import Secret, Subscription
from tests.fakes import FakeClock

from .conformance_outbox import START, route_tree, up_to
from .conformance_support import CommitHooks, StoreFactory, commit_all, flush_due, never_muted
from .factories import imm_batch, imm_task

NOW = int(START * SECOND)


def subscription(sid: str, **values: object) -> Subscription:
    base = Subscription(
        id=sid,
        url=f"https://example.com/{sid}",
        secrets=(Secret("whsec_a2V5"),),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **values)  # type: ignore[arg-type]


class SubscriptionConformance:
    @pytest.fixture
    async def subscribed(self, make_store: StoreFactory) -> Store:
        hooks = CommitHooks(router=Router(route_tree(), FakeClock(START)), subscriptions=True)
        return await make_store(hooks=hooks)

    async def test_a_subscription_is_kept_whole(self, subscribed: Store) -> None:
        subs = subscribed.subscriptions
        sub = subscription(
            "s1",
            description="cms",
            filter={"status": ["failed"]},
            kinds=("task",),
            headers={"X-Team": "cms"},
            rate_limit=(5, 60.0),
            metadata={"owner": "ana"},
            secrets=(Secret("whsec_bmV3"), Secret("whsec_b2xk", NOW + 5)),
        )
        await subs.create(sub)
        assert await subs.get("s1") == sub
        assert await subs.all() == [sub]
        changed = replace(sub, enabled=False, disabled_reason="by hand", updated_at=NOW + 1)
        assert await subs.save(changed)
        assert await subs.get("s1") == changed
        assert not await subs.save(subscription("nope"))
        assert await subs.delete("s1") and not await subs.delete("s1")
        assert await subs.get("s1") is None

    async def test_commits_owe_each_matching_enabled_subscription_one_delivery(
        self, subscribed: Store
    ) -> None:
        subs = subscribed.subscriptions
        await subs.create(subscription("all"))
        await subs.create(subscription("failed", filter={"status": ["failed"]}))
        await subs.create(subscription("batches", kinds=("batch",)))
        await subs.create(subscription("off", enabled=False))
        events = [
            imm_task("t1", "failed", 1, batch_key="B"),
            imm_task("t2", "succeeded", 2),
            imm_batch("B", "failed", 3),
        ]
        assert await commit_all(subscribed, events) == [CommitOutcome.COMMITTED] * 3
        await commit_all(subscribed, events)  # duplicates owe nothing
        # three to the route's receiver (grouped later), the rest due at once, one each
        made = await flush_due(subscribed.outbox, NOW, up_to(100), never_muted)
        assert made == 3 + 2 + 1
        claimed = await subscribed.outbox.claim_due(NOW, 30 * SECOND, 100)
        got = sorted((d.receiver, d.events[0]["event_id"]) for d in claimed)
        ids = [e.event_id for e in events]
        assert got == sorted(
            [("sub:all", i) for i in ids]
            + [("sub:failed", ids[0]), ("sub:failed", ids[2]), ("sub:batches", ids[2])]
        )

    async def test_the_log_replay_and_failing_subscriptions(self, subscribed: Store) -> None:
        subs, outbox = subscribed.subscriptions, subscribed.outbox
        await subs.create(subscription("s1"))
        await commit_all(
            subscribed,
            [
                imm_task("t1", "failed", 1, batch_key="B"),
                imm_task("t2", "failed", 2, batch_key="C"),
            ],
        )
        await flush_due(outbox, NOW, up_to(100), never_muted)
        claimed = await outbox.claim_due(NOW, 30 * SECOND, 100)
        for delivery in claimed:
            await outbox.record_attempt(
                delivery, "retry", NOW + 1, 0.25, "server_error", "HTTP 503: busy", NOW + 10
            )
        await subs.note_attempt("s1", False, NOW + 1)
        await subs.note_attempt("s1", False, NOW + 2)  # the first failure counts
        log = await subs.deliveries("s1", 10, "")
        assert len(log) == 2 and {d["state"] for d in log} == {"pending"}
        attempt = log[0]["attempt_log"][0]
        assert (attempt["outcome"], attempt["detail"], attempt["seconds"]) == (
            "retry",
            "HTTP 503: busy",
            0.25,
        )
        assert len(await subs.deliveries("s1", 1, "")) == 1
        assert await subs.replay("s1", "B", None, None, NOW + 3) == 1
        assert await subs.replay("s1", None, NOW, NOW + 1, NOW + 3) == 2
        assert await subs.replay("s1", None, NOW + 3, None, NOW + 4) == 0  # copies are not new
        assert len(await subs.deliveries("s1", 10, "")) == 5
        assert await subs.disable_failing(NOW, "dead", NOW + 5) == []  # failing since NOW + 1
        [gone] = await subs.disable_failing(NOW + 1, "dead", NOW + 5)
        assert (gone.id, gone.enabled, gone.disabled_reason) == ("s1", False, "dead")
        assert await subs.resume("s1", NOW + 6) == 5
        await subs.note_attempt("s1", True, NOW + 7)
        assert (await subs.get("s1")).failing_since is None  # type: ignore[union-attr]

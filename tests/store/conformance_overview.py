"""Conformance: the figures at the top of the dashboard, failure grouping and activity."""

from __future__ import annotations

from datetime import timedelta

from batchrelay.errors import InputReason
from batchrelay.routing.obligations import Router
from batchrelay.store.base import QuarantineRecord, Store, TaskQuery
from batchrelay.store.contracts import Changes
from tests.fakes import FakeClock

from .conformance_alerts import alert
from .conformance_outbox import NOW, START, WAIT, route_tree, up_to
from .conformance_support import CommitHooks, StoreCase, StoreFactory, commit_all, flush_due
from .factories import RECEIVED, at, imm_batch, imm_task, inbound


def rejected(seconds_ago: float) -> QuarantineRecord:
    return QuarantineRecord(
        ingress="eventbridge", reason=InputReason.BAD_JSON, detail="x", raw=b"{", headers={},
        received_at=RECEIVED - timedelta(seconds=seconds_ago),
    )  # fmt: skip


class OverviewConformance(StoreCase):
    async def test_overview_counts_batches_alerts_dead_letters_and_recent_input(
        self, make_store: StoreFactory
    ) -> None:
        store = await make_store(hooks=CommitHooks(router=Router(route_tree(), FakeClock(START))))
        events = [imm_batch("run1", "running", 1), imm_batch("run2", "running", 2),
                  imm_batch("bad", "failed", 3), imm_batch("held", "suspended", 4)]  # fmt: skip
        await commit_all(store, events)
        # events received 2 min ago, 30 s ago and now; "now" is RECEIVED + 1 s
        for n, received in enumerate((-120, -30, 0)):
            task = imm_task(f"t{n}", "failed", 5 + n, batch_key="bad")
            await store.commit(inbound(task, received=received))
        for seconds_ago in (7200, 1800, 10):
            await store.quarantine(rejected(seconds_ago))
        alerts = store.alerts
        await alerts.apply(Changes(saved=[alert("failed", "bad"), alert("x", "run1", "pending"),
                                          alert("y", "run2", "resolved")]), at(0))  # fmt: skip
        outbox = store.outbox
        await flush_due(outbox, NOW + WAIT, up_to(100), lambda r, route: False)
        for delivery in await outbox.claim_due(NOW + WAIT, WAIT, 10):
            state = "dead" if delivery.batch_key == "bad" else "delivered"
            await outbox.record_attempt(delivery, state, NOW + WAIT, 0.1)

        found = await store.overview(RECEIVED + timedelta(seconds=1))
        assert found.batches == {"failed": 1, "running": 2, "suspended": 1}
        assert (found.alerts_firing, found.dead_letters) == (1, 1)
        # the batch events above were received at RECEIVED too
        assert (found.received, found.received_capped) == (4 + 2, False)
        assert found.quarantined == 2  # the last hour's
        empty = await (await make_store("empty")).overview(RECEIVED)
        assert (empty.batches, empty.received, empty.quarantined) == ({}, 0, 0)

    async def test_failed_tasks_by_code_first_failures_first(self, store: Store) -> None:
        await commit_all(store, [
            imm_task("a3", "failed", 3, batch_key="B", code="E.A", object_path="oss://b/x/3.mov"),
            imm_task("a1", "failed", 1, batch_key="B", code="E.A", object_path="oss://b/x/1.mov"),
            imm_task("a2", "failed", 2, batch_key="B", code="E.A"),
            imm_task("b1", "failed", 1, batch_key="B", code="E.B", object_path="oss://b/y/1.png"),
            imm_task("c1", "failed", 1, batch_key="B", code="E.C"),
            imm_task("c1", "succeeded", 9, batch_key="B"),  # stopped failing
            imm_task("o1", "failed", 1, batch_key="other", code="E.A"),
        ])  # fmt: skip
        found = await store.failed_tasks("B", ["E.A", "E.B", "E.C", "E.none"], 2)
        assert list(found) == ["E.A", "E.B"]
        assert [(t.task_id, t.object_path) for t in found["E.A"]] == [
            ("a1", "oss://b/x/1.mov"), ("a2", None)]  # fmt: skip
        assert [t.status_time for t in found["E.B"]] == [at(1)]
        assert await store.failed_tasks("nope", ["E.A"], 5) == {}

    async def test_tasks_filter_by_code(self, store: Store) -> None:
        await commit_all(store, [
            imm_task("a", "failed", 1, batch_key="B", code="E.A"),
            imm_task("b", "failed", 2, batch_key="B", code="E.B"),
            imm_task("c", "succeeded", 3, batch_key="B"),
        ])  # fmt: skip
        page = await store.list_tasks(TaskQuery("B", code="E.A"))
        assert [t.task_id for t in page.items] == ["a"]
        page = await store.list_tasks(TaskQuery("B", status="failed", code=""))
        assert page.items == []
        assert [t.task_id for t in (await store.list_tasks(TaskQuery("B", code=""))).items] == ["c"]

    async def test_activity_counts_events_per_bucket_of_event_time(self, store: Store) -> None:
        times = [0, 1, 59, 60, 61, 179, 180, -1]  # the last two fall outside [0, 180)
        await commit_all(store, [imm_task(f"t{n}", "running", t, batch_key="B")
                                 for n, t in enumerate(times)])  # fmt: skip
        await store.commit(inbound(imm_task("x", "running", 5, batch_key="C")))
        found = await store.batch_activity(["B", "C", "none"], at(0), timedelta(minutes=1), 3)
        assert found == {"B": [3, 2, 1], "C": [1, 0, 0], "none": [0, 0, 0]}

"""Conformance: the ledger rules (dedup, tasks, batches, order independence, rebuild)."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from batchrelay.store.base import CommitOutcome, Store, TaskQuery

from .conformance_support import StoreCase, StoreFactory, commit_all, commit_concurrently
from .factories import (
    RECEIVED,
    at,
    event_stream,
    ice_batch,
    ice_job,
    imm_batch,
    imm_task,
    inbound,
    unknown,
)

COMMITTED, DUPLICATE = CommitOutcome.COMMITTED, CommitOutcome.DUPLICATE


class LedgerConformance(StoreCase):
    # ------------------------------------------------------------------ dedup

    async def test_a_redelivered_event_is_a_duplicate_and_changes_nothing(
        self, store: Store
    ) -> None:
        event = imm_task("t1", "failed", 10, batch_key="B", code="E1")
        assert await store.commit(inbound(event)) == COMMITTED
        before = await store.ledger_snapshot()
        assert await store.commit(inbound(event, received=99)) == DUPLICATE
        assert await store.ledger_snapshot() == before
        batch = await store.get_batch("B")
        assert batch is not None
        assert batch.events == 1
        assert batch.last_received == RECEIVED  # a duplicate is not a new arrival

    async def test_duplicates_inside_one_group_and_one_call(self, store: Store) -> None:
        event = imm_task("t1", "running", 1, batch_key="B")
        outcomes = await commit_concurrently(store, [event] * 5)
        assert sorted(outcomes) == [COMMITTED] + [DUPLICATE] * 4
        twice = [inbound(imm_task("t2", "running", 2)), inbound(imm_task("t2", "running", 2))]
        assert await store.commit_many(twice) == [COMMITTED, DUPLICATE]

    async def test_events_without_task_or_batch_only_reach_the_journal(self, store: Store) -> None:
        empty = await store.ledger_snapshot()
        assert await store.commit(inbound(unknown("u1", 5))) == COMMITTED
        assert await store.commit(inbound(unknown("u1", 5))) == DUPLICATE
        assert await store.ledger_snapshot() == empty
        assert await store.rebuild_ledger() == 1

    # ------------------------------------------------------------------ tasks

    async def test_a_task_transition_is_counted_once(self, store: Store) -> None:
        await commit_all(store, [
            imm_task("t1", "running", 1, batch_key="B"),
            imm_task("t1", "succeeded", 5, batch_key="B"),
            # the same transition through a second route, under another event id
            imm_task("t1", "succeeded", 5, batch_key="B", event_id="t1-again"),
        ])  # fmt: skip
        batch = await store.get_batch("B")
        assert batch is not None
        assert batch.task_counts == {"succeeded": 1}
        assert batch.events == 3
        snapshot = await store.ledger_snapshot()
        assert snapshot["project_totals"] == {"docs-prod": {"succeeded": 1}}

    async def test_failed_before_running_is_not_undone_by_the_late_running(
        self, store: Store
    ) -> None:
        await commit_all(store, [
            imm_task("t1", "failed", 10, batch_key="B", code="E1", object_path="oss://b/x"),
            imm_task("t1", "running", 5, batch_key="B"),
            imm_task("t1", "running", 20, batch_key="B"),  # even a newer running loses
        ])  # fmt: skip
        [task] = (await store.list_tasks(TaskQuery(batch_key="B"))).items
        assert (task.status, task.code, task.raw_status) == ("failed", "E1", "Failed")
        assert task.status_time == at(10)
        assert task.first_seen == at(5)
        assert task.object_path == "oss://b/x"
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.task_counts, batch.error_codes) == ({"failed": 1}, {"E1": 1})

    async def test_a_retried_task_moves_its_counts(self, store: Store) -> None:
        await commit_all(store, [
            imm_task("t1", "succeeded", 70, batch_key="B"),
            imm_task("t1", "failed", 10, batch_key="B"),  # empty code: counted as Unknown
            imm_task("t2", "failed", 12, batch_key="B"),
        ])  # fmt: skip
        batch = await store.get_batch("B")
        assert batch is not None
        assert batch.task_counts == {"succeeded": 1, "failed": 1}
        assert batch.error_codes == {"Unknown": 1}
        [t1] = [t for t in (await store.list_tasks(TaskQuery("B"))).items if t.task_id == "t1"]
        assert (t1.status, t1.code, t1.message) == ("succeeded", "", "")

    async def test_equal_ranks_are_broken_by_event_id(self, make_store: StoreFactory) -> None:
        a = imm_task("t1", "failed", 10, batch_key="B", code="A", event_id="e-a")
        b = imm_task("t1", "failed", 10, batch_key="B", code="B", event_id="e-b")
        one, other = await make_store("one"), await make_store("other")
        await commit_all(one, [a, b])
        await commit_all(other, [b, a])
        assert await one.ledger_snapshot() == await other.ledger_snapshot()
        batch = await one.get_batch("B")
        assert batch is not None
        assert batch.error_codes == {"B": 1}

    async def test_object_path_and_batch_survive_a_winner_without_them(self, store: Store) -> None:
        await commit_all(store, [
            imm_task("t1", "running", 1, batch_key="B", object_path="oss://b/a.docx"),
            imm_task("t1", "succeeded", 5, project=None),
        ])  # fmt: skip
        [task] = (await store.list_tasks(TaskQuery(batch_key="B"))).items
        assert (task.status, task.object_path, task.project) == (
            "succeeded", "oss://b/a.docx", "docs-prod",
        )  # fmt: skip

    async def test_disagreeing_reports_resolve_by_rank_not_arrival(
        self, make_store: StoreFactory
    ) -> None:
        events = [
            imm_task("t1", "running", 1, batch_key="A", object_path="oss://old", project="p1"),
            imm_task("t1", "succeeded", 5, batch_key="B", object_path="oss://new", project=None),
            imm_task("t1", "running", 9, object_path=None, project="p2"),
        ]
        snapshots = []
        for n, order in enumerate(itertools.permutations(events)):
            store = await make_store(f"order-{n}")
            await commit_all(store, list(order))
            snapshots.append(await store.ledger_snapshot())
            await store.close()
        assert all(snapshot == snapshots[0] for snapshot in snapshots)
        task = snapshots[0]["tasks"]["t1"]
        assert (task["batch_key"], task["object_path"], task["project"]) == ("B", "oss://new", "p2")
        assert snapshots[0]["batches"]["A"]["task_counts"] == {}
        assert snapshots[0]["batches"]["B"]["task_counts"] == {"succeeded": 1}
        assert snapshots[0]["project_totals"] == {"p2": {"succeeded": 1}}

    async def test_project_totals_include_tasks_without_a_batch(self, store: Store) -> None:
        await commit_all(store, [
            imm_task("t1", "succeeded", 1, batch_key="B"),
            imm_task("t2", "failed", 2),
            imm_task("t3", "running", 3, project=None),
            ice_job("j1", "failed", 4, batch_key=None, code="X"),
        ])  # fmt: skip
        snapshot = await store.ledger_snapshot()
        assert snapshot["project_totals"] == {
            "": {"failed": 1, "running": 1},
            "docs-prod": {"failed": 1, "succeeded": 1},
        }
        assert snapshot["error_codes"] == {}  # codes are per batch

    # ------------------------------------------------------------------ batches

    async def test_batch_state_follows_the_newest_event_time(self, store: Store) -> None:
        await commit_all(store, [
            imm_batch("B", "running", 10),
            imm_batch("B", "running", 30, phase="IncrementalScanning"),  # after ResumeBatch
            imm_batch("B", "failed", 20, error="quota exceeded"),  # arrives late
        ])  # fmt: skip
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.state, batch.raw_state, batch.phase, batch.error) == (
            "running", "Running", "IncrementalScanning", "",
        )  # fmt: skip
        assert batch.finished_at is None
        await store.commit(inbound(imm_batch("B", "succeeded", 40)))
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.state, batch.finished_at) == ("succeeded", at(40))

    async def test_statistic_is_the_newest_snapshot_never_a_sum(self, store: Store) -> None:
        await commit_all(store, [
            imm_batch("B", "running", 30, statistic=(30, 2, 1)),
            imm_batch("B", "running", 10, statistic=(10, 1, 0)),
            imm_batch("B", "running", 20, statistic=(20, 1, 0)),
            imm_batch("B", "running", 40),  # no statistic: keeps the last snapshot
        ])  # fmt: skip
        batch = await store.get_batch("B")
        assert batch is not None and batch.statistic is not None
        stat = batch.statistic
        assert (stat.submit_success, stat.submit_failure, stat.skip_files) == (30, 2, 1)
        assert batch.statistic_time == at(30)

    async def test_tags_and_actions_come_from_the_newest_batch_event(self, store: Store) -> None:
        new_actions = [{"Name": "doc/convert", "Parameters": ["target=pdf"]}]
        await commit_all(store, [
            imm_batch("B", "running", 20, tags={"team": "new"}, actions=new_actions),
            imm_batch("B", "ready", 10, tags={"team": "old", "x": "1"}, actions=[{"Name": "a"}]),
        ])  # fmt: skip
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.tags, batch.actions) == ({"team": "new"}, new_actions)

    async def test_a_batch_seen_only_through_tasks_is_derived(self, store: Store) -> None:
        await store.commit(inbound(imm_task("t1", "running", 5, batch_key="B")))
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.kind, batch.state, batch.create_time) == ("derived", "unknown", at(5))
        await store.commit(inbound(imm_batch("B", "running", 1, kind="trigger")))
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.kind, batch.state, batch.first_seen, batch.last_seen) == (
            "trigger", "running", at(1), at(5),
        )  # fmt: skip
        assert await store.get_batch("nope") is None

    async def test_batch_times(self, store: Store) -> None:
        await commit_all(store, [
            imm_batch("B", "running", 10, create_time=at(-100), update_time=at(50)),
            imm_batch("B", "running", 11, create_time=at(-90), update_time=at(40)),
            imm_task("t1", "succeeded", 60, batch_key="B"),
            imm_task("t2", "running", 5, batch_key="B"),
        ])  # fmt: skip
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.create_time, batch.update_time) == (at(-100), at(60))
        assert (batch.first_seen, batch.last_seen) == (at(5), at(60))

    async def test_an_ice_batch_finishes(self, store: Store) -> None:
        await commit_all(store, [
            ice_job("j1", "succeeded", 5, batch_key="J"),
            ice_job("j2", "failed", 6, batch_key="J", code="InvalidParameter"),
            ice_batch("J", 9),
        ])  # fmt: skip
        batch = await store.get_batch("J")
        assert batch is not None
        assert (batch.kind, batch.state, batch.finished_at) == ("ice_batch", "finished", at(9))
        assert batch.task_counts == {"succeeded": 1, "failed": 1}
        assert batch.error_codes == {"InvalidParameter": 1}

    # ------------------------------------------------------------------ rebuild, order

    async def test_rebuild_gives_the_identical_ledger(self, store: Store) -> None:
        events = event_stream(seed=7)
        outcomes = await commit_concurrently(store, events)
        before = await store.ledger_snapshot()
        assert await store.rebuild_ledger() == outcomes.count(COMMITTED)
        assert await store.ledger_snapshot() == before
        assert before["batches"] and before["tasks"] and before["error_codes"]

    @pytest.mark.parametrize("seed", [1, 2, 3])
    async def test_any_arrival_order_gives_the_same_ledger(
        self, make_store: StoreFactory, seed: int
    ) -> None:
        events = event_stream(seed)
        reference = await make_store("in-order")
        await commit_all(reference, events)
        expected = await reference.ledger_snapshot()
        for n in range(3):
            shuffled = random.Random(seed * 100 + n).sample(events, len(events))
            store = await make_store(f"shuffled-{n}")
            await commit_concurrently(store, shuffled)
            assert await store.ledger_snapshot() == expected
            await store.close()

    # ------------------------------------------------------------------ replicas

    @pytest.mark.parametrize("seed", [4, 5])
    async def test_two_stores_on_one_database_keep_the_exact_ledger(
        self, make_store: StoreFactory, seed: int
    ) -> None:
        """Two replicas commit at once, many events on the same batches and tasks, some
        events through both: the ledger is the one a single store gives, nothing lost."""
        events = event_stream(seed, batches=3, tasks_per_batch=40)
        reference = await make_store("alone")
        await commit_all(reference, events)
        expected = await reference.ledger_snapshot()
        one, other = await make_store("shared"), await make_store("shared")
        rng = random.Random(seed)
        calls = []
        for event in rng.sample(events, len(events)):
            replicas = rng.choice([[one], [other], [one, other]])  # both: redelivered
            calls += [replica.commit(inbound(event)) for replica in replicas]
        outcomes = await asyncio.gather(*calls)
        assert outcomes.count(COMMITTED) == len({event.event_id for event in events})
        assert await one.ledger_snapshot() == expected
        assert await other.ledger_snapshot() == expected
        assert await other.rebuild_ledger() == len({event.event_id for event in events})
        assert await one.ledger_snapshot() == expected

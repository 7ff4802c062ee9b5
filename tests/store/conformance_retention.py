"""Retention conformance: each setting prunes what it names and nothing else, pruning
beside a stream of commits loses and doubles nothing, and a rebuild after pruning gives the
ledger as it was (``store/retention.py``, ``Retention`` in ``store/contracts.py``)."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta
from typing import Any

from batchrelay.errors import InputReason
from batchrelay.routing.obligations import Router
from batchrelay.store.base import Page, QuarantineRecord, Store, TaskQuery
from batchrelay.store.contracts import Changes, Cutoffs
from batchrelay.store.row_codec import to_us
from tests.fakes import FakeClock

from .conformance_alerts import NOW as ALERTS_NOW
from .conformance_alerts import alert
from .conformance_outbox import LEASE, NOW, START, WAIT, Routed, route_tree
from .conformance_support import CommitHooks, StoreCase, StoreFactory, commit_all
from .factories import RECEIVED, at, event_stream, imm_batch, imm_task, inbound

LATE = at(100_000)  # after every event time and arrival of the factories' streams


async def prune_all(store: Store, cutoffs: Cutoffs, limit: int = 7) -> dict[str, int]:
    """Prune until nothing is left, in small steps; the rows pruned by table."""
    total: dict[str, int] = {}
    for _ in range(100_000):
        pruned = await store.retention.prune(cutoffs, limit)
        if not pruned:
            return total
        for table, n in pruned.items():
            total[table] = total.get(table, 0) + n
    raise AssertionError("pruning never ends")


async def journal(store: Store) -> list[str]:
    return [inbound.event.event_id for _, inbound in await store.read_journal(0, 100_000)]


def finished(events: list[Any], before: datetime) -> set[str]:
    """Batches whose newest batch event is a final one before ``before``."""
    last: dict[str, Any] = {}
    for e in events:
        if e.kind in ("batch", "ice_batch") and (e.batch_key not in last
                                                 or e.time > last[e.batch_key].time):  # fmt: skip
            last[e.batch_key] = e
    final = ("succeeded", "failed", "finished")
    return {k for k, e in last.items() if e.status in final and e.time < before}


class RetentionConformance(StoreCase):
    async def test_events_retention_prunes_closed_batches_and_rebuild_stays_exact(
        self, store: Store
    ) -> None:
        events = event_stream(seed=16, batches=6, tasks_per_batch=12)
        await commit_all(store, events)
        before = await store.ledger_snapshot()
        kept = [e.event_id for e in events if e.batch_key not in finished(events, LATE)]
        pruned = await prune_all(store, Cutoffs(events=to_us(LATE)))
        assert pruned["events"] == len(set(await journal(store)) ^ {e.event_id for e in events})
        assert set(await journal(store)) == set(kept)
        assert await store.ledger_snapshot() == before  # the ledger is kept
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == before  # and rebuilt exactly
        assert await prune_all(store, Cutoffs(events=to_us(LATE))) == {}

    async def test_a_late_event_after_pruning_is_counted_once_and_rebuilt(
        self, store: Store
    ) -> None:
        tasks = [imm_task(f"t{n}", "succeeded", 10 + n, batch_key="B", code="") for n in range(5)]
        await commit_all(store, [imm_batch("B", "running", 1), *tasks,
                                 imm_batch("B", "succeeded", 50)])  # fmt: skip
        await prune_all(store, Cutoffs(events=to_us(LATE)))
        assert await journal(store) == []
        late = [imm_task("t1", "failed", 60, batch_key="B", code="E"),
                imm_task("t9", "running", 61, batch_key="B")]  # fmt: skip
        await commit_all(store, late)
        batch = await store.get_batch("B")
        assert batch is not None and batch.events == 9
        assert batch.task_counts == {"failed": 1, "running": 1, "succeeded": 4}
        after = await store.ledger_snapshot()
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == after
        await prune_all(store, Cutoffs(events=to_us(LATE)))  # the late ones too, now
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == after
        assert await journal(store) == []

    async def test_an_open_or_recent_batch_keeps_its_journal(self, store: Store) -> None:
        opened = [imm_batch("open", "running", 1), imm_task("a", "running", 2, batch_key="open")]
        await commit_all(store, [*opened, imm_batch("done", "succeeded", 500)])
        assert await prune_all(store, Cutoffs(events=to_us(at(400)))) == {}
        assert len(await journal(store)) == 3

    async def test_raw_and_quarantine_prune_by_arrival_and_nothing_else(self, store: Store) -> None:
        old, new = (
            inbound(imm_task("old", "running", 1, batch_key="B"), received=0),
            inbound(imm_task("new", "running", 2, batch_key="B"), received=3600),
        )
        await store.commit_many([old])
        await store.commit_many([new])
        quarantined = [await store.quarantine(QuarantineRecord(
            "mns_push", InputReason.BAD_JSON, "bad", f"junk{n}".encode(), {},
            RECEIVED.replace(hour=RECEIVED.hour + 2 * n))) for n in range(2)]  # fmt: skip
        before = await store.ledger_snapshot()
        cutoff = to_us(RECEIVED.replace(hour=RECEIVED.hour + 1))
        pruned = await prune_all(store, Cutoffs(raw=cutoff))
        assert pruned == {"raw_inputs": 2}  # the old event's body and the first record's
        assert sorted(await journal(store)) == sorted([old.event.event_id, new.event.event_id])
        bodies = {e.event_id: e.raw_base64 for e in
                  (await store.list_batch_events("B", 10, "")).items}  # fmt: skip
        assert bodies == {old.event.event_id: "",
                          new.event.event_id: base64.b64encode(new.raw).decode()}  # fmt: skip
        records = {q.id: q.raw_base64 for q in (await store.list_quarantine(10, "")).items}
        assert records == {quarantined[0]: "", quarantined[1]: base64.b64encode(b"junk1").decode()}
        assert await prune_all(store, Cutoffs(quarantine=cutoff)) == {"quarantine": 1}
        assert [q.id for q in (await store.list_quarantine(10, "")).items] == [quarantined[1]]
        assert await store.ledger_snapshot() == before

    async def test_an_event_shows_and_rebuilds_the_same_once_its_body_is_pruned(
        self, store: Store
    ) -> None:
        events = event_stream(seed=7, batches=3, tasks_per_batch=6)
        await store.commit_many([inbound(e, raw=f"body of {e.event_id}".encode()) for e in events])
        keys = sorted({e.batch_key for e in events if e.batch_key})

        async def shown() -> list[Any]:
            pages = [(await store.list_batch_events(k, 100, "")).items for k in keys]
            return [v.model_copy(update={"raw_base64": "", "size": 0}) for p in pages for v in p]

        replayed = [i.event for _, i in await store.read_journal(0, 10_000)]
        views, ledger = await shown(), await store.ledger_snapshot()
        assert (await prune_all(store, Cutoffs(raw=to_us(LATE))))["raw_inputs"] > 0
        journal = await store.read_journal(0, 10_000)
        assert [i.event for _, i in journal] == replayed and {i.raw for _, i in journal} == {b""}
        assert await shown() == views
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == ledger

    async def test_deliveries_prune_finished_ones_only(self, make_store: StoreFactory) -> None:
        clock = FakeClock(START)
        store = await make_store(hooks=CommitHooks(router=Router(route_tree(), clock)))
        routed = Routed(store, store.outbox, clock)
        done, pending, dead = await routed.deliveries("A", "B", "C")
        await store.outbox.record_attempt(done, "delivered", NOW + 2 * WAIT, 0.1)
        await store.outbox.record_attempt(dead, "dead", NOW + 2 * WAIT, 0.1, "client_error", "")
        assert await prune_all(store, Cutoffs(deliveries=NOW + 2 * WAIT)) == {}  # not before it
        pruned = await prune_all(store, Cutoffs(deliveries=NOW + 2 * WAIT + 1))
        assert pruned == {"deliveries": 2, "delivery_attempts": 2, "outbox": 2}
        assert await routed.states() == ["sending"]
        assert len(await journal(store)) == 3
        assert [d.id for d in await store.outbox.claim_due(NOW + WAIT + LEASE, LEASE, 9)] == [
            pending.id
        ]

    async def test_pruning_beside_a_stream_of_commits_loses_and_doubles_nothing(
        self, store: Store
    ) -> None:
        closed = [imm_batch("closed", "running", 1),
                  *(imm_task(f"c{n}", "succeeded", 2 + n, batch_key="closed") for n in range(60)),
                  imm_batch("closed", "succeeded", 100)]  # fmt: skip
        await commit_all(store, closed)
        stream = [imm_task(f"o{n}", "running", 200 + n, batch_key="open") for n in range(120)]
        stream += [imm_task(f"c{n}", "failed", 300 + n, batch_key="closed", code="Late")
                   for n in range(0, 60, 7)]  # late reports on the closed batch  # fmt: skip

        async def commit_stream() -> None:
            for n in range(0, len(stream), 4):
                await asyncio.gather(*(store.commit(inbound(e)) for e in stream[n : n + 4]))

        async def keep_pruning() -> None:
            while not committing.done():
                await store.retention.prune(Cutoffs(events=to_us(LATE)), 5)
                await asyncio.sleep(0)

        committing = asyncio.ensure_future(commit_stream())
        await asyncio.gather(committing, keep_pruning())
        open_batch, closed_batch = await store.get_batch("open"), await store.get_batch("closed")
        assert open_batch is not None and closed_batch is not None
        assert open_batch.events == 120 and closed_batch.events == 62 + 9
        assert closed_batch.task_counts == {"failed": 9, "succeeded": 51}
        assert {e for e in await journal(store) if e.startswith("task:o")} == {
            e.event_id for e in stream[:120]
        }  # nothing of the open batch is past retention
        after = await store.ledger_snapshot()
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == after

    async def test_stats_and_sizes_name_every_table(self, store: Store) -> None:
        await commit_all(store, [imm_task("t", "running", 1, batch_key="B")])
        stats = {s.table: s for s in await store.retention.stats()}
        assert stats["events"].rows == 1 and stats["events"].bytes > 0
        assert stats["events"].oldest == RECEIVED
        assert stats["task_snapshots"].rows == 0
        sizes = await store.retention.sizes()
        assert {"events", "tasks", "raw_inputs", "batches"} <= set(sizes)

    async def test_history_is_kept_when_the_journal_is_pruned(self, store: Store) -> None:
        events = event_stream(seed=7, batches=3, tasks_per_batch=10)
        await commit_all(store, events)
        before = {key: await store.batch_history(key, 50) for key in ("batch-0", "batch-1")}
        await prune_all(store, Cutoffs(events=to_us(LATE)))
        assert await store.list_batch_events("batch-0", 10, "") == Page([])
        for key, points in before.items():
            assert points and await store.batch_history(key, 50) == points

    async def test_history_of_a_final_status_reported_before_a_newer_running_one(
        self, store: Store
    ) -> None:
        # running at 30 arrives first; failed at 25 outranks it (final) and arrives later
        await commit_all(store, [imm_task("t", "running", 30, batch_key="B"),
                                 imm_task("t", "failed", 25, batch_key="B", code="E")])  # fmt: skip
        points = await store.batch_history("B", 100)
        assert [(p.time, p.task_counts, p.events) for p in points] == [
            (at(25), {"failed": 1}, 1), (at(30), {"failed": 1}, 2),
        ]  # fmt: skip

    async def test_alerts_retention_prunes_resolved_alerts_only(self, store: Store) -> None:
        states = [alert("stalled", "B"), alert("failed", "B", "resolved"),
                  alert("stalled", "C", "resolved")]  # fmt: skip
        await store.alerts.apply(Changes(saved=states[:2]), ALERTS_NOW)
        await store.alerts.apply(Changes(saved=states[2:]), ALERTS_NOW + timedelta(hours=1))
        cutoff = to_us(ALERTS_NOW + timedelta(minutes=30))
        assert await prune_all(store, Cutoffs(alerts=cutoff)) == {"alerts": 1}
        assert await store.alerts.alerts() == [states[2], states[0]]

    async def test_batches_retention_prunes_the_ledger_of_finished_batches(
        self, store: Store
    ) -> None:
        tasks = [imm_task(f"d{n}", "failed" if n % 3 else "succeeded", 10 + n, batch_key="done",
                          code="E", project="p") for n in range(20)]  # fmt: skip
        opened = [imm_batch("open", "running", 100),
                  imm_task("o", "running", 101, batch_key="open", project="p")]  # fmt: skip
        await commit_all(store, [imm_batch("done", "succeeded", 100), *tasks, *opened])
        open_before = await store.get_batch("open")
        assert await prune_all(store, Cutoffs(batches=to_us(at(50)))) == {}  # done at 100
        pruned = await prune_all(store, Cutoffs(batches=to_us(LATE)))
        assert pruned == {"tasks": 20, "events": 21, "batches": 1}
        assert await store.get_batch("done") is None
        assert await store.get_batch("open") == open_before
        assert await store.batch_history("done", 10) == []
        snapshot = await store.ledger_snapshot()
        assert set(snapshot["tasks"]) == {"o"}
        assert snapshot["project_totals"] == {"p": {"running": 1}}
        await store.rebuild_ledger()
        assert await store.ledger_snapshot() == snapshot

    async def test_task_search_finds_the_same_tasks_after_a_rebuild(self, store: Store) -> None:
        await commit_all(store, [imm_task(f"t{n}", "running", n, batch_key="B",
                                          object_path=f"oss://in/deal-{n:03d}.docx")
                                 for n in range(30)])  # fmt: skip

        async def found(search: str) -> list[str]:
            page = await store.list_tasks(TaskQuery(batch_key="B", search=search))
            return [task.task_id for task in page.items]

        assert await found("deal-02") == [f"t{n}" for n in range(29, 19, -1)]
        await store.rebuild_ledger()
        assert await found("deal-02") == [f"t{n}" for n in range(29, 19, -1)]
        assert await found("DEAL-007") == ["t7"]
        later = imm_task("t99", "running", 99, batch_key="B", object_path="oss://in/deal-099.docx")
        await commit_all(store, [later])  # the index is kept up to date again after it
        assert await found("deal-099") == ["t99"]

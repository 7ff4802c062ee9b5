"""Each stage of delivery on its own, on a real SQLite outbox with a fake clock: hold and
mute, the breaker, the budget, render and send, record; and how stages compose."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchrelay.delivery.breaker import Breaker
from batchrelay.delivery.budget import Budget
from batchrelay.delivery.hold import Hold, plan
from batchrelay.delivery.policy import CircuitBreaker, RetryPolicy, SendBudget
from batchrelay.delivery.record import Record, Recorder
from batchrelay.delivery.send import BatchReads, Send
from batchrelay.delivery.stages import Chain, Fanout, Round, Sent
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, send_error
from batchrelay.notifiers.config import BreakerConfig, RetryConfig
from batchrelay.routing.obligations import Router
from batchrelay.store.base import Inbound
from batchrelay.store.contracts import SECOND, CommitHooks, Delivery, DueGroup, Pending
from batchrelay.store.sqlite.store import SQLiteStore, commit_hook
from tests.fakes import FakeClock, RecordingNotifier

from .test_dispatcher import hook_config, routing, task


@dataclass
class Outboxed:
    """A store whose commits route failed tasks to ``hook``, grouped by batch."""

    clock: FakeClock
    store: SQLiteStore

    async def commit(self, *batches: str, per_batch: int = 1) -> None:
        at = datetime.fromtimestamp(self.clock(), UTC)
        events = [task(n, batch=b) for b in batches for n in range(per_batch)]
        await self.store.commit_many([Inbound(e, b"{}", at) for e in events])

    async def due(self, *batches: str, per_batch: int = 1) -> list[Delivery]:
        """Deliveries of ``batches``, flushed and claimed at once."""
        await self.commit(*batches, per_batch=per_batch)
        self.clock.advance(11)  # past group_wait
        await Hold(self.store.outbox, None, {"hook": hook_config()})(self.clock())
        return await self.store.outbox.claim_due(self.us(), 60 * SECOND, 100)

    def us(self) -> int:
        return int(self.clock() * SECOND)

    async def states(self) -> list[str]:
        rows = await self.store.outbox.list_deliveries(None, None, 100, "")
        return sorted(row["state"] for row in rows)


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Outboxed]:
    clock = FakeClock()
    hooks = commit_hook(CommitHooks(route=Router(routing(), clock)))
    store = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL", on_commit=hooks)
    await store.start()
    yield Outboxed(clock, store)
    await store.close()


# --------------------------------------------------------------------------- hold and mute


def pending(n: int, kind: str = "task") -> Pending:
    return Pending(n, "B", json.dumps({"kind": kind, "task_id": f"t{n}", "status": "failed"}))


def test_plan_cuts_a_group_by_max_events_and_keeps_held_events_apart() -> None:
    group = DueGroup("hook", "root", "g", [pending(n) for n in range(5)])

    def check(view: dict[str, Any]) -> str | None:
        return "silenced" if view["task_id"] == "t1" else None

    [flush] = plan([group], lambda r, route: False, check, lambda receiver: 2)
    made = [(d.state, [e.outbox_id for e in d.events]) for d in flush.deliveries]
    assert made == [("pending", [0, 2]), ("pending", [3, 4]), ("silenced", [1])]
    [muted] = plan([group], lambda r, route: True, None, lambda receiver: 10)
    assert [(d.state, len(d.events)) for d in muted.deliveries] == [("muted", 5)]


async def test_hold_decides_in_the_event_loop_and_the_store_writes_the_decision(
    box: Outboxed,
) -> None:
    await box.commit("A", "B")
    box.clock.advance(11)
    threads: list[threading.Thread] = []

    async def holds(now: int) -> Any:
        def check(view: dict[str, Any]) -> str | None:
            threads.append(threading.current_thread())
            return "silenced" if view["batch_key"] == "A" else None

        return check

    made = await Hold(box.store.outbox, routing(), {"hook": hook_config()}, holds)(box.clock())
    assert made == 2
    assert threads == [threading.main_thread()] * 2  # never on the store's writer thread
    assert await box.states() == ["pending", "silenced"]
    assert await Hold(box.store.outbox, None, {})(box.clock()) == 0  # flushed: not due again


async def test_a_group_that_gains_events_after_the_read_stays_due(box: Outboxed) -> None:
    await box.commit("A")
    box.clock.advance(11)
    outbox = box.store.outbox
    groups = await outbox.due_groups(box.us())
    await box.commit("A", per_batch=2)  # task 0 again (a duplicate) and task 1: new
    assert await outbox.flush(plan(groups, lambda *_: False, None, lambda r: 100), box.us()) == 1
    [late] = await outbox.due_groups(box.us())  # not lost: flushed on the next tick
    assert [e.view["task_id"] for e in late.events] == ["MediaConvert-A-1"]


# --------------------------------------------------------------------------- breaker


async def test_an_open_breaker_lets_one_probe_through_and_postpones_the_rest(
    box: Outboxed,
) -> None:
    due = await box.due("A", "B", "C")
    breaker = CircuitBreaker(BreakerConfig(failures=1, cooldown=30))
    stage = Breaker(breaker, box.store.outbox, tick=0.5)
    assert len((await stage(Round("hook", box.clock(), due))).deliveries) == 3  # closed
    breaker.record_failure(box.clock())
    assert (await stage(Round("hook", box.clock(), due))).deliveries == []  # open
    assert await box.store.outbox.claim_due(box.us(), 60 * SECOND, 10) == []
    probe = await stage(Round("hook", box.clock() + 30, due))  # half-open
    assert [d.id for d in probe.deliveries] == [due[0].id]


# --------------------------------------------------------------------------- budget


async def test_a_short_budget_coalesces_due_deliveries_into_a_digest(box: Outboxed) -> None:
    due = await box.due("A", "B", "C")
    budget, metrics = SendBudget(((1, 60.0),)), Metrics()
    stage = Budget(lambda: budget, box.store.outbox, metrics, max_events=100, lease=60, tick=0.5)
    [digest] = (await stage(Round("hook", box.clock(), due))).deliveries
    assert digest.digest and len(digest.events) == 3
    assert budget.available(box.clock()) == 0  # the digest spent the one send
    assert 'batchrelay_coalesced_total{receiver="hook"} 3.0' in metrics.render().decode()


async def test_what_a_spent_budget_cannot_take_waits_in_the_outbox(box: Outboxed) -> None:
    due = await box.due("A", "B")
    budget = SendBudget(((1, 60.0),))
    budget.try_take(box.clock())
    stage = Budget(lambda: budget, box.store.outbox, Metrics(), 100, lease=60, tick=0.5)
    assert (await stage(Round("hook", box.clock(), due))).deliveries == []
    assert await box.store.outbox.claim_due(box.us() + 59 * SECOND, 60 * SECOND, 10) == []
    assert len(await box.store.outbox.claim_due(box.us() + 60 * SECOND, 60 * SECOND, 10)) == 2


# --------------------------------------------------------------------------- render and send


async def test_send_notes_what_each_send_gave_with_the_batch_as_the_store_has_it(
    box: Outboxed,
) -> None:
    due = await box.due("A", "B")
    boom = send_error(FailureReason.SERVER_ERROR, "502")
    hook = RecordingNotifier(clock=box.clock, failures=[boom])
    done = await Send(hook, BatchReads(box.store), "https://relay.example.com")(
        Round("hook", box.clock(), due)
    )
    assert done.sent[due[0].id].error is boom and done.sent[due[1].id].error is None
    [(_, notification)] = hook.sent
    assert notification.id == due[1].id and notification.public_url == "https://relay.example.com"
    assert notification.batch is not None and notification.batch["batch_key"] == "B"


async def test_the_batches_of_a_page_are_read_at_once_not_per_delivery(box: Outboxed) -> None:
    due = await box.due("A", "B", "C", "D")
    reads: list[list[str]] = []
    alerts = box.store.alerts
    batches = alerts.batches

    async def counted(keys: Any) -> Any:
        reads.append(sorted(keys))
        return await batches(keys)

    alerts.batches = counted  # type: ignore[method-assign]
    hook = RecordingNotifier(clock=box.clock)
    page = BatchReads(box.store)
    page.prefetch(due)
    await Fanout(Send(hook, page, None), limit=4)(Round("hook", box.clock(), due))
    assert reads == [["A", "B", "C", "D"]]
    got = sorted((n.batch or {}).get("batch_key", "") for _, n in hook.sent)
    assert got == ["A", "B", "C", "D"]


# --------------------------------------------------------------------------- record


async def test_record_retries_then_dead_letters_and_copies_to_the_fallback(
    box: Outboxed,
) -> None:
    [delivery] = await box.due("A")
    breaker = CircuitBreaker(BreakerConfig(failures=5))
    retry = RetryPolicy(RetryConfig(max_attempts=2), random.Random(1))
    stage = Record(Recorder(box.store.outbox, Metrics(), box.clock), breaker, retry, "spare")
    boom = send_error(FailureReason.SERVER_ERROR, "502")
    await stage(Round("hook", box.clock(), [delivery], {delivery.id: Sent(0.1, boom)}))
    assert await box.states() == ["pending"]  # retried later
    box.clock.advance(3600)
    [again] = await box.store.outbox.claim_due(box.us(), 60 * SECOND, 10)
    await stage(Round("hook", box.clock(), [again], {again.id: Sent(0.1, boom)}))
    assert await box.states() == ["dead", "pending"]  # the second failure: dead, and a copy
    [copy] = await box.store.outbox.claim_due(box.us(), 60 * SECOND, 10)
    assert copy.receiver == "spare" and copy.events == delivery.events


async def test_record_of_a_success_closes_the_breaker(box: Outboxed) -> None:
    [delivery] = await box.due("A")
    breaker = CircuitBreaker(BreakerConfig(failures=1))
    breaker.record_failure(box.clock())
    retry = RetryPolicy(RetryConfig(), random.Random(1))
    stage = Record(Recorder(box.store.outbox, Metrics(), box.clock), breaker, retry, None)
    await stage(Round("hook", box.clock(), [delivery], {delivery.id: Sent(0.1)}))
    assert breaker.allow(box.clock()) and await box.states() == ["delivered"]


async def test_a_round_with_a_failure_in_the_middle_records_each_outcome_in_one_write(
    box: Outboxed,
) -> None:
    due = sorted(await box.due("A", "B", "C", "D"), key=lambda d: d.batch_key or "")
    writes: list[int] = []
    outbox = box.store.outbox
    record_attempts = outbox.record_attempts

    async def counted(attempts: Any) -> None:
        writes.append(len(attempts))
        await record_attempts(attempts)

    outbox.record_attempts = counted  # type: ignore[method-assign]
    breaker = CircuitBreaker(BreakerConfig(failures=5))
    retry = RetryPolicy(RetryConfig(max_attempts=3), random.Random(1))
    stage = Record(Recorder(outbox, Metrics(), box.clock), breaker, retry, None)
    sent = {due[0].id: Sent(0.1), due[1].id: Sent(0.1, send_error(FailureReason.SERVER_ERROR,
            "502")), due[2].id: Sent(0.1, send_error(FailureReason.CLIENT_ERROR, "400")),
            due[3].id: Sent(0.1)}  # fmt: skip
    await stage(Round("hook", box.clock(), due, sent))
    assert writes == [4]  # one write for the whole round
    rows = {r["id"]: r for r in await outbox.list_deliveries(None, None, 10, "")}
    assert [(rows[d.id]["state"], rows[d.id]["last_detail"]) for d in due] == [
        ("delivered", None), ("pending", "502"), ("dead", "400"), ("delivered", None)
    ]  # fmt: skip
    assert breaker.allow(box.clock())  # the success after the failures closed it


async def test_fanout_records_finished_sends_in_batches_while_others_go_on() -> None:
    calls: list[list[str]] = []
    running, most = 0, 0

    async def send(work: Round) -> Round:
        nonlocal running, most
        running += 1
        most = max(most, running)
        [delivery] = work.deliveries
        await asyncio.sleep(0.001 * (int(delivery.id[1:]) % 3))
        running -= 1
        if delivery.id == "d5":
            raise RuntimeError("a notifier bug")
        return Round(work.receiver, work.now, work.deliveries, {delivery.id: Sent(0.01)})

    async def record(work: Round) -> Round:
        calls.append([d.id for d in work.deliveries if d.id in work.sent])
        await asyncio.sleep(0.005)  # a write: sends finishing meanwhile wait for the next one
        return work

    def delivery(n: int) -> Delivery:
        return Delivery(f"d{n}", "hook", "root", "g", None, False, 0, None, 0, [])

    fanout = Fanout(send, limit=3, then=record)
    with pytest.raises(RuntimeError, match="a notifier bug"):
        await fanout(Round("hook", 0.0, [delivery(n) for n in range(20)]))
    recorded = [each for batch in calls for each in batch]
    assert sorted(recorded) == sorted(f"d{n}" for n in range(20) if n != 5)  # each once
    assert len(calls) < 20 and max(len(batch) for batch in calls) > 1 and most == 3


# --------------------------------------------------------------------------- composing


async def test_a_chain_stops_once_nothing_is_left_and_fanout_bounds_concurrency() -> None:
    running, most = 0, 0

    async def slow(work: Round) -> Round:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Round(work.receiver, work.now, work.deliveries,
                     {d.id: Sent(0.01) for d in work.deliveries})  # fmt: skip

    async def nothing(work: Round) -> Round:
        return work.passing([])

    def delivery(n: int) -> Delivery:
        return Delivery(f"d{n}", "hook", "root", "g", None, False, 0, None, 0, [])

    done = await Fanout(slow, limit=2)(Round("hook", 0.0, [delivery(n) for n in range(5)]))
    assert sorted(done.sent) == [f"d{n}" for n in range(5)] and most == 2
    never = Chain(nothing, slow)
    assert (await never(Round("hook", 0.0, [delivery(0)]))).sent == {}

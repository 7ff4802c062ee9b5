"""The pure ledger rules, folded in memory: no store involved, so many orders are cheap."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from batchrelay.events.models import Event
from batchrelay.store import ledger

from .factories import RECEIVED, event_stream, imm_batch, imm_task


@dataclass
class Ledger:
    """The smallest store: what the rules alone say the ledger is."""

    seen: set[str] = field(default_factory=set)
    batches: dict[str, ledger.BatchState] = field(default_factory=dict)
    tasks: dict[str, ledger.TaskState] = field(default_factory=dict)
    counters: tuple[dict[tuple[str, str], int], ...] = field(default_factory=lambda: ({}, {}, {}))

    def apply(self, event: Event, received_at: datetime = RECEIVED) -> None:
        if event.event_id in self.seen:
            return
        self.seen.add(event.event_id)
        if event.batch_key:
            current = self.batches.get(event.batch_key)
            self.batches[event.batch_key] = ledger.apply_batch(current, event, received_at)
        if ledger.is_task_event(event):
            self._apply_task(event)

    def _apply_task(self, event: Event) -> None:
        old = self.tasks.get(str(event.task_id))
        new = self.tasks[str(event.task_id)] = ledger.apply_task(old, event)
        deltas = ledger.task_deltas(old, new)
        parts = (deltas.task_counts, deltas.error_codes, deltas.project_totals)
        for counter, delta in zip(self.counters, parts, strict=True):
            for key, n in delta.items():
                counter[key] = counter.get(key, 0) + n

    def nonzero_counters(self) -> tuple[dict[tuple[str, str], int], ...]:
        return tuple({k: n for k, n in c.items() if n} for c in self.counters)


def fold(events: Sequence[Event]) -> Ledger:
    result = Ledger()
    for event in events:
        result.apply(event)
    return result


def recount(tasks: dict[str, ledger.TaskState]) -> tuple[dict[tuple[str, str], int], ...]:
    """Counters computed from scratch: what the deltas must always add up to."""
    total = Ledger()
    for task in tasks.values():
        deltas = ledger.task_deltas(None, task)
        parts = (deltas.task_counts, deltas.error_codes, deltas.project_totals)
        for counter, delta in zip(total.counters, parts, strict=True):
            for key, n in delta.items():
                counter[key] = counter.get(key, 0) + n
    return total.nonzero_counters()


@pytest.mark.parametrize("seed", range(5))
def test_every_order_folds_to_the_same_ledger(seed: int) -> None:
    events = event_stream(seed, batches=4, tasks_per_batch=15)
    expected = fold(events)
    rng = random.Random(seed)
    for _ in range(20):
        other = fold(rng.sample(events, len(events)))
        assert (other.batches, other.tasks) == (expected.batches, expected.tasks)
        assert other.nonzero_counters() == expected.nonzero_counters()


@pytest.mark.parametrize("seed", range(5))
def test_deltas_always_add_up_to_a_recount(seed: int) -> None:
    result = fold(random.Random(seed).sample(events := event_stream(seed), len(events)))
    assert result.nonzero_counters() == recount(result.tasks)


def test_a_final_status_outranks_a_newer_running() -> None:
    failed = imm_task("t", "failed", 10)
    running = imm_task("t", "running", 20)
    assert ledger.task_rank(failed) > ledger.task_rank(running)


def test_no_change_means_no_deltas() -> None:
    task = ledger.apply_task(None, imm_task("t", "running", 1, batch_key="B"))
    assert not ledger.task_deltas(task, task)
    moved = ledger.apply_task(task, imm_task("t", "failed", 2, batch_key="C", code="X"))
    deltas = ledger.task_deltas(task, moved)
    assert deltas.task_counts == {("B", "running"): -1, ("C", "failed"): 1}
    assert deltas.error_codes == {("C", "X"): 1}
    assert deltas.project_totals == {("docs-prod", "failed"): 1, ("docs-prod", "running"): -1}


def test_a_batch_event_outranks_any_task_for_the_head() -> None:
    batch = ledger.apply_batch(None, imm_batch("B", "running", 1), RECEIVED)
    after = ledger.apply_batch(batch, imm_task("t", "running", 99, batch_key="B"), RECEIVED)
    assert (after.kind, after.state, after.head) == ("batch", "running", batch.head)
    assert (after.last_seen, after.events) == (imm_task("t", "running", 99).time, 2)

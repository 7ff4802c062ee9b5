"""Provenance, the rank behind each sticky field of a task or batch row, is stored compactly
(store/row_codec.py): ``0`` when the row's own rank set every field, one rank when one other
event did, a rank per field otherwise; each reads back as the state it was written from."""

from __future__ import annotations

from batchrelay.store.ledger import apply_batch, apply_task
from batchrelay.store.row_codec import (
    BATCH_FIELDS,
    TASK_FIELDS,
    batch_from_row,
    batch_to_row,
    task_from_row,
    task_to_row,
)

from .factories import RECEIVED, imm_batch, imm_task


def provenance_of_task(*events: object) -> str:
    state = None
    for event in events:
        state = apply_task(state, event)  # type: ignore[arg-type]
    assert state is not None
    row = task_to_row(state)
    assert task_from_row(row) == state
    return str(row[TASK_FIELDS.index("provenance")])


def test_a_task_known_from_one_event_takes_one_byte() -> None:
    assert provenance_of_task(imm_task("t", "running", 1, batch_key="B")) == "0"


def test_a_task_whose_fields_came_from_another_event_keeps_that_rank_once() -> None:
    running = imm_task("t", "running", 1, batch_key="B", object_path="oss://a")
    late = imm_task("t", "ready", 2, batch_key=None, object_path=None, project=None)
    late = late.model_copy(update={"task_type": None})
    stored = provenance_of_task(running, late)  # the status moved on, the fields did not
    assert stored == '[0,1795140001000000,"task:t:running:1"]'


def test_fields_from_several_events_keep_a_rank_each() -> None:
    first = imm_task("t", "running", 1, batch_key="B", project=None)
    second = imm_task("t", "running", 2, batch_key=None, object_path="oss://b")
    stored = provenance_of_task(first, second)
    assert stored.startswith('{"batch_key":[0,1795140001000000,')


def test_a_batch_row_reads_back_in_every_form() -> None:
    state = None
    for event in (imm_batch("B", "running", 1, project="p"), imm_batch("B", "succeeded", 2,
                                                                        project=None)):  # fmt: skip
        state = apply_batch(state, event, RECEIVED)
        row = batch_to_row(state)
        assert batch_from_row(row[: len(BATCH_FIELDS)]) == state

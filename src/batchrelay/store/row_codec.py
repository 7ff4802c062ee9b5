"""Conversions between ledger values and store rows, the same for SQLite and PostgreSQL
(times as epoch microseconds, JSON as canonical text)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from batchrelay.errors import StoreError
from batchrelay.events.models import Event, Statistic
from batchrelay.store.base import Inbound
from batchrelay.store.journal_codec import pack_model, unpack_model
from batchrelay.store.ledger import BatchState, Rank, Sticky, TaskState, status_rank
from batchrelay.store.packing import pack

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

#: Task statuses and the ``batches`` column counting them. Closed, like ``Status``.
STATUS_COLUMNS: dict[str, str] = {
    status: f"tasks_{status}"
    for status in ("ready", "running", "succeeded", "failed", "suspended", "finished", "unknown")
}


def to_us(value: datetime) -> int:
    if value.tzinfo is None:  # Inbound promises UTC; a naive value is read as UTC, not local
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def maybe_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def maybe_time(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def dumps(value: Any) -> str:
    """Canonical JSON: compact, keys sorted, UTF-8 text."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # integers past 64 bits, non-string keys: the slow way
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def status_column(status: str) -> str:
    return STATUS_COLUMNS.get(status, STATUS_COLUMNS["unknown"])


# --------------------------------------------------------------------------- journal


def journal_row(event: Event, received_at: datetime) -> tuple[Any, ...]:
    """The ``events`` row of one input in ``JOURNAL_COLUMNS`` order, but for its last
    column, ``raw_id``, which the writer adds once the raw input has its id.

    Raises ``ValueError`` when the event cannot be written as JSON (a lone surrogate)."""
    return (
        event.event_id, to_us(received_at), event.kind, event.batch_key, to_us(event.time),
        pack_model(event),
    )  # fmt: skip


RAW_COLUMNS = "received_at, ingress, encoding, body, packing"


def raw_row(raw: bytes, ingress: str, received_at: datetime, encoding: str) -> tuple[Any, ...]:
    """A ``raw_inputs`` row in ``RAW_COLUMNS`` order: the body packed (``store/packing.py``)."""
    return (to_us(received_at), ingress, encoding, *pack(raw))


def failures_json(failures: Iterable[Any]) -> str:
    """A quarantine record's failing parts as stored (``[{index, reason, detail}]``)."""
    return dumps([{"index": f.index, "reason": f.reason, "detail": f.detail} for f in failures])


#: What a reader selects of a journal row to have its event back (``event_from_journal``).
EVENT_COLUMNS = "e.event_id, e.kind, e.batch_key, e.time, e.model"


def event_from_journal(row: Sequence[Any]) -> Event:
    """The exact event back from its row's ``EVENT_COLUMNS`` (its normalized view follows)."""
    event_id, kind, batch_key, time, model = row
    return unpack_model(model, event_id, kind, batch_key, from_us(time))


def media_urls(jobs: Iterable[Event], limit: int) -> list[str]:
    """The first ``limit`` media URLs the ICE jobs ``jobs`` produced (read lazily: the
    ``model`` column that holds them is compressed, so SQL cannot filter on them)."""
    found: list[str] = []
    for job in jobs:
        if len(found) >= limit:
            break
        if getattr(job, "media_url", ""):
            found.append(job.media_url)  # type: ignore[union-attr]
    return found


# --------------------------------------------------------------------------- provenance


def _dump_rank(rank: Rank) -> list[Any]:
    return [int(rank.lead), to_us(rank.time), rank.event_id]


def _load_rank(raw: list[Any]) -> Rank:
    return Rank(bool(raw[0]), from_us(raw[1]), raw[2])


#: Provenance when the row's own rank set every sticky field (a task's status event, a
#: batch's head): one byte for the usual case, where a task is known from its one event.
OWN_RANK = "0"


def dump_provenance(sticky: Mapping[str, Sticky], own: Rank) -> str:
    """The rank behind each sticky field, compactly, as JSON (PostgreSQL's column is json):
    ``0`` when ``own`` set them all, ``[lead, time, event_id]`` when one other event did,
    else ``{field: [lead, time, event_id]}``. A sticky field always has a value, so the
    fields are the row's non-empty ones (``load_sticky``)."""
    ranks = {held.rank for held in sticky.values()}
    if len(ranks) == 1:
        [rank] = ranks
        return OWN_RANK if rank == own else dumps(_dump_rank(rank))
    return dumps({name: _dump_rank(held.rank) for name, held in sticky.items()})


def load_sticky(provenance: str, values: Mapping[str, str | None], own: Rank) -> dict[str, Sticky]:
    stored = json.loads(provenance)
    if isinstance(stored, dict):
        return {
            name: Sticky(value, _load_rank(stored[name]))
            for name, value in values.items()
            if value and name in stored
        }
    rank = own if stored == 0 else _load_rank(stored)
    return {name: Sticky(value, rank) for name, value in values.items() if value}


# --------------------------------------------------------------------------- tasks

TASK_COLUMNS = (
    "task_id, batch_key, source, project, task_type, object_path, status, raw_status, "
    "code, message, first_seen, status_time, event_id, provenance"
)


def task_to_row(task: TaskState) -> tuple[Any, ...]:
    return (
        task.task_id, task.batch_key, task.source, task.project, task.task_type,
        task.object_path, task.status, task.raw_status, task.code, task.message,
        to_us(task.first_seen), to_us(task.rank.time), task.rank.event_id,
        dump_provenance(task.sticky, task.rank),
    )  # fmt: skip


def task_from_row(row: tuple[Any, ...]) -> TaskState:
    (task_id, batch_key, source, project, task_type, object_path, status, raw_status,
     code, message, first_seen, status_time, event_id, provenance) = row  # fmt: skip
    sticky_values = {"batch_key": batch_key, "project": project,
                     "task_type": task_type, "object_path": object_path}  # fmt: skip
    rank = status_rank(status, from_us(status_time), event_id)
    return TaskState(
        task_id=task_id,
        source=source,
        status=status,
        raw_status=raw_status,
        code=code,
        message=message,
        first_seen=from_us(first_seen),
        rank=rank,
        sticky=load_sticky(provenance, sticky_values, rank),
    )


# --------------------------------------------------------------------------- batches

#: The ledger-state columns of ``batches``: everything but the task counters.
BATCH_STATE_COLUMNS = (
    "batch_key, kind, source, project, account_id, region, state, raw_state, phase, error, "
    "tags, actions, head_batch, head_time, head_event_id, statistic, statistic_time, "
    "statistic_event_id, service_create_time, service_update_time, first_seen, last_seen, "
    "last_received, events, provenance"
)
#: Derived columns, stored so the read API can filter and sort on them.
BATCH_DERIVED_COLUMNS = "create_time, update_time, finished_at"


def batch_to_row(batch: BatchState) -> tuple[Any, ...]:
    """``BATCH_STATE_COLUMNS`` then ``BATCH_DERIVED_COLUMNS``."""
    stat_time, stat_event = batch.statistic_rank or (None, None)
    statistic = batch.statistic.model_dump_json() if batch.statistic else None
    return (
        batch.batch_key, batch.kind, batch.source, batch.project, batch.account_id,
        batch.region, batch.state, batch.raw_state, batch.phase, batch.error,
        dumps(dict(batch.tags)), dumps(list(batch.actions)), int(batch.head.lead),
        to_us(batch.head.time), batch.head.event_id, statistic, maybe_us(stat_time),
        stat_event, maybe_us(batch.service_create_time), maybe_us(batch.service_update_time),
        to_us(batch.first_seen), to_us(batch.last_seen), to_us(batch.last_received),
        batch.events, dump_provenance(batch.sticky, batch.head),
        to_us(batch.create_time), to_us(batch.update_time), maybe_us(batch.finished_at),
    )  # fmt: skip


def batch_from_row(row: tuple[Any, ...]) -> BatchState:
    """From a ``SELECT BATCH_STATE_COLUMNS`` row."""
    (batch_key, kind, source, project, account_id, region, state, raw_state, phase, error,
     tags, actions, head_batch, head_time, head_event_id, statistic, statistic_time,
     statistic_event_id, service_create_time, service_update_time, first_seen, last_seen,
     last_received, events, provenance) = row  # fmt: skip
    sticky_values = {"project": project, "account_id": account_id, "region": region}
    head = Rank(bool(head_batch), from_us(head_time), head_event_id)
    return BatchState(
        batch_key=batch_key,
        head=head,
        kind=kind,
        source=source,
        state=state,
        raw_state=raw_state,
        phase=phase,
        error=error,
        tags=json.loads(tags),
        actions=json.loads(actions),
        first_seen=from_us(first_seen),
        last_seen=from_us(last_seen),
        last_received=from_us(last_received),
        events=events,
        statistic=Statistic.model_validate_json(statistic) if statistic else None,
        statistic_rank=(
            (from_us(statistic_time), statistic_event_id) if statistic is not None else None
        ),
        service_create_time=maybe_time(service_create_time),
        service_update_time=maybe_time(service_update_time),
        sticky=load_sticky(provenance, sticky_values, head),
    )


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An input made ready for a store's writer on the caller's side: its journal row
    (without ``raw_id``) and the raw input it references, stored once per distinct body."""

    event: Event
    received_at: datetime
    row: tuple[Any, ...]
    raw: bytes = b""
    encoding: str = ""

    def raw_row(self) -> tuple[Any, ...]:
        return raw_row(self.raw, self.event.ingress, self.received_at, self.encoding)


def prepare(item: Inbound) -> PreparedEvent:
    """An ``Inbound`` serialized on the caller's side, so a value that cannot be stored
    fails its caller (``StoreError``), not the group it would have joined."""
    try:
        row = journal_row(item.event, item.received_at)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"event {item.event.event_id!r} cannot be stored: {exc}") from exc
    return PreparedEvent(item.event, item.received_at, row, item.raw, item.encoding)


# --------------------------------------------------------------------------- counters

#: A change in counts, keyed by two strings: (batch_key, status), (batch_key, code), ...
Counter = dict[tuple[str, str], int]

_COUNT_INDEX = {column: index for index, column in enumerate(STATUS_COLUMNS.values())}
NO_COUNTS = (0,) * len(STATUS_COLUMNS)


def counts_by_batch(task_counts: Counter) -> dict[str, tuple[int, ...]]:
    """Task-count deltas as the count columns of each batch row."""
    counts: dict[str, list[int]] = {}
    for (batch_key, status), n in task_counts.items():
        if n:
            columns = counts.setdefault(batch_key, list(NO_COUNTS))
            columns[_COUNT_INDEX[status_column(status)]] += n
    return {batch_key: tuple(columns) for batch_key, columns in counts.items()}


def counter_rows(counter: Counter) -> list[tuple[str, str, int]]:
    """(outer, inner, n) rows of the non-zero changes, in key order."""
    return [(outer, inner, n) for (outer, inner), n in sorted(counter.items()) if n]


# ------------------------------------------------------- ledger snapshots (retention)

BATCH_FIELDS = [name.strip() for name in BATCH_STATE_COLUMNS.split(",")]
TASK_FIELDS = [name.strip() for name in TASK_COLUMNS.split(",")]


def upsert(fields: list[str], key: str, keep: tuple[str, ...] = ()) -> str:
    """``ON CONFLICT`` clause replacing every field but ``key`` and ``keep`` (both SQLs)."""
    sets = ", ".join(f"{f} = excluded.{f}" for f in fields if f != key and f not in keep)
    return f"ON CONFLICT ({key}) DO UPDATE SET {sets}"


#: A snapshot keeps its count of pruned events when it is written again.
SNAPSHOT_BATCH_UPSERT = upsert(BATCH_FIELDS, "batch_key", keep=("events",))
SNAPSHOT_TASK_UPSERT = upsert(TASK_FIELDS, "task_id")


def snapshot_row(state: BatchState) -> tuple[Any, ...]:
    """A ``batch_snapshots`` row of ``state``: its state columns, with no events pruned yet
    (an existing snapshot keeps its count)."""
    row = list(batch_to_row(state)[: len(BATCH_FIELDS)])
    row[BATCH_FIELDS.index("events")] = 0
    return tuple(row)

"""The ledger rules: how one event changes a batch and a task. Pure functions, no I/O.

Every store applies the same rules so that SQLite and PostgreSQL agree row for row. Each
rule is a *merge* that is commutative and associative over events, which is what makes the
ledger order-independent (any permutation of the same events gives the same rows) and lets
``rebuild`` replay the journal into the identical ledger:

* a value chosen by the highest :class:`Rank` (a max);
* first/last seen and service times (min/max);
* counters of journaled events (a sum over distinct event ids: the journal dedups first).

Task counts, error-code counts and project totals are *derived* from task states. A store
keeps them as counters and applies :func:`task_deltas` (-1 for the old contribution, +1
for the new one) whenever a task changes, so each transition is counted once however many
times, by however many routes, the same task is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from batchrelay.events.models import FINAL_STATUSES, EventBase, Statistic

TASK_KINDS: frozenset[str] = frozenset({"task", "ice_job"})
BATCH_KINDS: frozenset[str] = frozenset({"batch", "trigger", "ice_batch"})
DERIVED_KIND = "derived"  # a batch seen only through its tasks so far
UNKNOWN_CODE = "Unknown"  # error-code bucket for failed tasks that sent no code
NO_PROJECT = ""  # project-totals bucket for tasks whose project is not known

#: Task fields taken from the highest-ranked event that *carries* them, so a winning event
#: that lacks e.g. the object path does not erase what an earlier report told us.
TASK_STICKY: tuple[str, ...] = ("batch_key", "project", "task_type", "object_path")
#: The same for batches; the rest of a batch's identity comes from its head event.
BATCH_STICKY: tuple[str, ...] = ("project", "account_id", "region")


class Rank(NamedTuple):
    """A total order over events. Ties on ``lead`` and ``time`` fall to the event id."""

    lead: bool  # task: the status is final; batch head: the event is a batch event
    time: datetime
    event_id: str


class Sticky(NamedTuple):
    value: str
    rank: Rank


def is_task_event(event: EventBase) -> bool:
    return getattr(event, "kind", "") in TASK_KINDS and bool(event.task_id)


def is_batch_event(event: EventBase) -> bool:
    return getattr(event, "kind", "") in BATCH_KINDS and bool(event.batch_key)


def merge_sticky(
    held: Mapping[str, Sticky], event: EventBase, rank: Rank, names: Iterable[str]
) -> Mapping[str, Sticky]:
    """Keep, per field, the value of the highest-ranked event that had a non-empty one."""
    merged: dict[str, Sticky] | None = None  # copied on the first change only
    for name in names:
        value = getattr(event, name)
        current = held.get(name)
        if value and (current is None or rank > current.rank):
            if merged is None:
                merged = dict(held)
            merged[name] = Sticky(value, rank)
    return held if merged is None else merged


def _sticky_value(sticky: Mapping[str, Sticky], name: str) -> str | None:
    found = sticky.get(name)
    return found.value if found else None


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True, slots=True)
class TaskState:
    """One task as the ledger keeps it; ``rank`` is the event that set ``status``."""

    task_id: str
    source: str
    status: str
    raw_status: str
    code: str
    message: str
    first_seen: datetime
    rank: Rank
    sticky: Mapping[str, Sticky] = field(default_factory=dict)

    @property
    def batch_key(self) -> str | None:
        return _sticky_value(self.sticky, "batch_key")

    @property
    def project(self) -> str | None:
        return _sticky_value(self.sticky, "project")

    @property
    def task_type(self) -> str | None:
        return _sticky_value(self.sticky, "task_type")

    @property
    def object_path(self) -> str | None:
        return _sticky_value(self.sticky, "object_path")


def status_rank(status: str, time: datetime, event_id: str) -> Rank:
    """A final status outranks any non-final one: a late ``running`` never undoes ``failed``."""
    return Rank(status in FINAL_STATUSES, time, event_id)


def task_rank(event: EventBase) -> Rank:
    return status_rank(event.status, event.time, event.event_id)


def apply_task(current: TaskState | None, event: EventBase) -> TaskState:
    """The task after ``event``; ``event`` must satisfy :func:`is_task_event`."""
    rank = task_rank(event)
    sticky = merge_sticky(current.sticky if current else {}, event, rank, TASK_STICKY)
    if current is not None and rank <= current.rank:
        first_seen = min(current.first_seen, event.time)
        return replace(current, first_seen=first_seen, sticky=sticky)
    return TaskState(
        task_id=str(event.task_id),
        source=event.source,
        status=event.status,
        raw_status=event.raw_status,
        code=event.code,
        message=event.message,
        first_seen=min(current.first_seen, event.time) if current else event.time,
        rank=rank,
        sticky=sticky,
    )


@dataclass(frozen=True, slots=True)
class TaskDeltas:
    """Counter changes caused by one task changing; zero entries are left out."""

    task_counts: dict[tuple[str, str], int]  # (batch_key, status) -> delta
    error_codes: dict[tuple[str, str], int]  # (batch_key, code) -> delta
    project_totals: dict[tuple[str, str], int]  # (project, status) -> delta

    def __bool__(self) -> bool:
        return bool(self.task_counts or self.error_codes or self.project_totals)


Keys = tuple[tuple[str, str], ...]


def _contribution(state: TaskState | None) -> tuple[Keys, Keys, Keys]:
    """The counter keys one task adds 1 to: (task counts, error codes, project totals)."""
    if state is None:
        return (), (), ()
    totals = ((state.project or NO_PROJECT, state.status),)
    if not state.batch_key:
        return (), (), totals
    counts = ((state.batch_key, state.status),)
    failed = state.status == "failed"
    codes = ((state.batch_key, state.code or UNKNOWN_CODE),) if failed else ()
    return counts, codes, totals


def _difference(old: Keys, new: Keys) -> dict[tuple[str, str], int]:
    delta: dict[tuple[str, str], int] = {}
    for key in old:
        delta[key] = delta.get(key, 0) - 1
    for key in new:
        delta[key] = delta.get(key, 0) + 1
    return {key: n for key, n in delta.items() if n}


def task_deltas(old: TaskState | None, new: TaskState | None) -> TaskDeltas:
    """What to add to the counters when a task goes from ``old`` to ``new``."""
    before, after = _contribution(old), _contribution(new)
    counts, codes, totals = (_difference(b, a) for b, a in zip(before, after, strict=True))
    return TaskDeltas(counts, codes, totals)


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True, slots=True)
class BatchState:
    """One batch as the ledger keeps it, without the task-derived counters.

    ``head`` is the event that set ``kind``, ``source`` and the state fields: the newest
    batch event, or the newest of any event while no batch event has been seen.
    """

    batch_key: str
    head: Rank
    kind: str
    source: str
    state: str
    raw_state: str
    phase: str
    error: str
    tags: Mapping[str, str]
    actions: Sequence[Mapping[str, Any]]
    first_seen: datetime
    last_seen: datetime
    last_received: datetime
    events: int = 0
    statistic: Statistic | None = None
    statistic_rank: tuple[datetime, str] | None = None
    service_create_time: datetime | None = None
    service_update_time: datetime | None = None
    sticky: Mapping[str, Sticky] = field(default_factory=dict)

    @property
    def project(self) -> str | None:
        return _sticky_value(self.sticky, "project")

    @property
    def account_id(self) -> str | None:
        return _sticky_value(self.sticky, "account_id")

    @property
    def region(self) -> str | None:
        return _sticky_value(self.sticky, "region")

    @property
    def create_time(self) -> datetime:
        return self.service_create_time or self.first_seen

    @property
    def update_time(self) -> datetime:
        if self.service_update_time is None:
            return self.last_seen
        return max(self.service_update_time, self.last_seen)

    @property
    def finished_at(self) -> datetime | None:
        # only a batch event sets a state (a derived batch stays "unknown")
        return self.head.time if self.state in FINAL_STATUSES else None


def head_rank(event: EventBase) -> Rank:
    """Batch events outrank everything else; among equals, the newest event time wins."""
    return Rank(is_batch_event(event), event.time, event.event_id)


def _head_fields(event: EventBase) -> dict[str, Any]:
    if not is_batch_event(event):
        return {"kind": DERIVED_KIND, "source": event.source, "state": "unknown",
                "raw_state": "", "phase": "", "error": "", "tags": {}, "actions": []}  # fmt: skip
    return {
        "kind": getattr(event, "kind", DERIVED_KIND),
        "source": event.source,
        "state": event.status,
        "raw_state": event.raw_status,
        "phase": event.phase,
        "error": getattr(event, "error", "") or event.message,
        "tags": dict(event.tags),
        "actions": list(getattr(event, "actions", [])),
    }


def _seed_batch(event: EventBase, received_at: datetime) -> BatchState:
    return BatchState(
        batch_key=str(event.batch_key),
        head=head_rank(event),
        first_seen=event.time,
        last_seen=event.time,
        last_received=received_at,
        **_head_fields(event),
    )


def _min_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _merge_statistic(state: BatchState, event: EventBase) -> dict[str, Any]:
    """A statistic is a cumulative snapshot: keep the newest one, never add them up."""
    rank = (event.time, event.event_id)
    if event.statistic is None or (state.statistic_rank and rank <= state.statistic_rank):
        return {}
    return {"statistic": event.statistic, "statistic_rank": rank}


def _merge_head(state: BatchState, event: EventBase) -> dict[str, Any]:
    rank = head_rank(event)
    return {"head": rank, **_head_fields(event)} if rank > state.head else {}


def apply_batch(current: BatchState | None, event: EventBase, received_at: datetime) -> BatchState:
    """The batch after one more journaled event that names it (``event.batch_key``)."""
    state = current if current is not None else _seed_batch(event, received_at)
    return replace(
        state,
        first_seen=min(state.first_seen, event.time),
        last_seen=max(state.last_seen, event.time),
        last_received=max(state.last_received, received_at),
        events=state.events + 1,
        service_create_time=_min_time(state.service_create_time, _service_time(event, "create")),
        service_update_time=_max_time(state.service_update_time, _service_time(event, "update")),
        sticky=merge_sticky(state.sticky, event, head_rank(event), BATCH_STICKY),
        **_merge_statistic(state, event),
        **_merge_head(state, event),
    )


def _service_time(event: EventBase, which: str) -> datetime | None:
    # Only batch events have service times. vars(), not getattr with a default: for a
    # field the model lacks, pydantic answers getattr by building an exception.
    value = vars(event).get(f"{which}_time")
    return value if isinstance(value, datetime) else None

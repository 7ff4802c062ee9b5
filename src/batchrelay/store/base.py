"""The Store protocol: journal, ledger and quarantine behind one contract.

Every implementation (SQLite now, PostgreSQL later) must pass ``tests/store/conformance.py``.

Contract of :meth:`Store.commit` (the heart of ack-after-commit):

* the event is journaled, its ledger effect applied and (later) its notification
  obligations written **in one transaction**; the call returns only once that
  transaction is durable, so the caller may ack upstream;
* an ``event_id`` already in the journal changes nothing and returns ``DUPLICATE``;
* the ledger is order-independent: any permutation of the same events gives the same
  batches and tasks (see ``store/ledger.py`` for the rules);
* many concurrent callers share one transaction under load (group commit), each awaiting
  its own outcome; one bad item never fails the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from batchrelay.errors import InputReason
from batchrelay.events.models import Event, Statistic

if TYPE_CHECKING:  # the contracts of a store's parts refer to views defined here
    from batchrelay.store.contracts import AlertStore, Lease, Outbox, Retention
    from batchrelay.store.subscriptions import Subscriptions

T = TypeVar("T")

#: The windows and scan bounds of :meth:`Store.overview`.
INGEST_WINDOW = timedelta(minutes=1)
INGEST_SCAN = 60_000  # journal rows at most: rates above 1,000/s show as "at least"
QUARANTINE_WINDOW = timedelta(hours=1)
QUARANTINE_SCAN = 10_000

#: Called after each group commit with the number of items and the seconds the transaction
#: took (including the fsync), so the daemon can export group-size and latency metrics.
GroupCommitHook = Callable[[int, float], None]


class InvalidTokenError(ValueError):
    """A pagination token this store did not issue, or one that was altered (HTTP 400)."""


class CommitOutcome(StrEnum):
    COMMITTED = "committed"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One parsed event on its way into the store, with the bytes it arrived in.

    The events of one body share those bytes: a store keeps each distinct ``raw`` of one
    call once (one raw-input record that the events reference), however many events it
    holds."""

    event: Event
    raw: bytes
    received_at: datetime  # wall clock, UTC
    encoding: str = ""  # the Content-Encoding ``raw`` was sent with ("" = none)


@dataclass(frozen=True, slots=True)
class Failure:
    """One part of a body that could not become an event: its index in the body (the
    element of a JSON array) and why."""

    index: int
    reason: str
    detail: str


#: Failing parts listed in one quarantine record at most; ``failed`` counts them all.
MAX_LISTED_FAILURES = 100


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """Input that could not be decoded or parsed, kept byte for byte (as sent, still
    content-encoded when it was). One record per body: when only some parts of it failed,
    ``failures`` lists them (at most :data:`MAX_LISTED_FAILURES`) and ``failed`` counts them;
    ``reason`` and ``detail`` are then the first failure's."""

    ingress: str
    reason: InputReason
    detail: str
    raw: bytes
    headers: Mapping[str, str]
    received_at: datetime
    failures: tuple[Failure, ...] = ()
    failed: int = 0  # failing parts; 0 when the body failed as a whole
    encoding: str = ""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What :meth:`Store.accept` stored: an outcome per event, the quarantine record's id."""

    outcomes: list[CommitOutcome]
    quarantine_id: int | None = None


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class BatchView(View):
    """One batch as the read API shows it. Times are event times unless named ``*_received``."""

    batch_key: str
    kind: str  # batch, trigger, ice_batch, or "derived" when only its tasks were seen
    source: str
    project: str | None = None
    account_id: str | None = None
    region: str | None = None
    state: str = "unknown"  # normalized status
    raw_state: str = ""
    phase: str = ""
    error: str = ""
    statistic: Statistic | None = None
    statistic_time: datetime | None = None
    task_counts: dict[str, int] = Field(default_factory=dict)  # status -> number of tasks
    error_codes: dict[str, int] = Field(default_factory=dict)  # code -> number of failed tasks
    tags: dict[str, str] = Field(default_factory=dict)
    actions: list[dict[str, Any]] = Field(default_factory=list)
    create_time: datetime  # service CreateTime when sent, else the first event's time
    update_time: datetime  # newest of service UpdateTime and event times
    first_seen: datetime
    last_seen: datetime
    last_received: datetime
    finished_at: datetime | None = None  # event time of the final state, if final
    events: int = 0  # journaled events attributed to this batch


class TaskView(View):
    task_id: str
    batch_key: str | None
    source: str
    project: str | None = None
    task_type: str | None = None
    object_path: str | None = None
    status: str
    raw_status: str = ""
    code: str = ""
    message: str = ""
    first_seen: datetime
    status_time: datetime  # event time of the event that set ``status``
    event_id: str  # that event


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One batch action a user asked for, and what came of it."""

    batch_key: str
    action: str  # suspend, resume, update
    actor: str  # who asked
    outcome: str  # done, refused (a service rule, nothing called), failed (the call failed)
    detail: str  # the service's message, or what was changed
    at: datetime


class ActionView(View):
    id: int
    batch_key: str
    action: str
    actor: str
    outcome: str
    detail: str
    at: datetime


class QuarantineView(View):
    id: int
    ingress: str
    reason: str
    detail: str
    headers: dict[str, str]
    raw_base64: str  # as sent ("" once retention has pruned the raw input)
    size: int
    received_at: datetime
    encoding: str = ""  # the Content-Encoding of the raw bytes
    failed: int = 0  # failing parts of the body; 0 when it failed as a whole
    failures: list[dict[str, Any]] = Field(default_factory=list)  # {index, reason, detail}


class EventView(View):
    """One journaled event of a batch, with the bytes it arrived as (base64)."""

    event_id: str
    type: str
    kind: str
    source: str
    ingress: str
    time: datetime  # event time
    received_at: datetime
    task_id: str | None = None
    status: str = "unknown"
    code: str = ""
    raw_base64: str  # the whole body the event came in (shared by its other events)
    size: int
    encoding: str = ""  # the Content-Encoding of the raw bytes


class Overview(View):
    """The figures at the top of every dashboard page (see :meth:`Store.overview`)."""

    batches: dict[str, int] = Field(default_factory=dict)  # state -> batches, non-zero only
    alerts_firing: int = 0
    dead_letters: int = 0
    quarantined: int = 0  # inputs quarantined in the last ``QUARANTINE_WINDOW``
    received: int = 0  # events journaled in the last ``INGEST_WINDOW``
    received_capped: bool = False  # True: ``received`` is a floor (``INGEST_SCAN`` reached)


class FailedTask(View):
    """One failed task as failure grouping needs it."""

    task_id: str
    object_path: str | None = None
    status_time: datetime


class HistoryPoint(View):
    """A batch's figures at one moment of event time (see :meth:`Store.batch_history`)."""

    time: datetime
    statistic: Statistic | None = None  # newest snapshot at or before ``time``
    task_counts: dict[str, int] = Field(default_factory=dict)  # status -> tasks, non-zero only
    events: int = 0  # the batch's journaled events at or before ``time``


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str = ""  # opaque; empty when there is no more


@dataclass(frozen=True, slots=True)
class BatchQuery:
    """IMM ListBatches semantics."""

    state: str | None = None  # normalized status or the service word, case-insensitive
    tags: Mapping[str, str | None] = field(default_factory=dict)  # None = key must exist
    sort: Literal["CreateTime", "UpdateTime"] = "CreateTime"
    order: Literal["ASC", "DESC"] = "DESC"
    max_results: int = 100  # 1..100
    next_token: str = ""
    project: str | None = None


@dataclass(frozen=True, slots=True)
class TaskQuery:
    batch_key: str
    status: str | None = None  # a normalized status, or else the service's word
    search: str | None = None  # substring of object_path (or task id)
    code: str | None = None  # the task's error code, exactly
    max_results: int = 100
    next_token: str = ""


class Store(Protocol):
    """Durable journal + ledger + quarantine. One instance per process.

    Its parts, one per backend, each behind its own contract (``store/contracts.py``)."""

    @property
    def outbox(self) -> Outbox: ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def lease(self) -> Lease: ...

    @property
    def subscriptions(self) -> Subscriptions: ...

    @property
    def retention(self) -> Retention: ...

    async def start(self) -> None:
        """Open, apply migrations, start the writer. Called once before any other method."""

    async def close(self) -> None:
        """Finish queued commits, then close. Commits after close raise ``NotReadyError``."""

    async def ping(self) -> None:
        """Raise ``StoreError`` when the store cannot serve; for ``/readyz``."""

    async def commit(self, item: Inbound) -> CommitOutcome:
        """Journal + ledger in one durable transaction (group-committed with others)."""

    async def commit_many(self, items: Sequence[Inbound]) -> list[CommitOutcome]:
        """Like :meth:`commit` for several items; outcomes in the same order.

        The items share one savepoint: if one of them cannot be stored, none is, and the
        call raises ``StoreError`` (other callers in the same group are not affected)."""

    async def quarantine(self, record: QuarantineRecord) -> int:
        """Durably keep a rejected input; returns its id."""

    async def accept(
        self, items: Sequence[Inbound], rejected: QuarantineRecord | None = None
    ) -> Accepted:
        """Everything one body became: its events, committed as by :meth:`commit_many`, and
        one quarantine record for the parts that failed. The body's bytes are stored once,
        referenced by the events and the record.

        Events go in groups of at most the store's ``max_group``, each its own transaction,
        so a body of many events holds other commits back by one group at most. If a group
        fails the call raises ``StoreError``; the groups before it stay committed (the
        journal dedups them when the body is redelivered)."""

    async def get_batch(self, batch_key: str) -> BatchView | None: ...

    async def record_action(self, record: ActionRecord) -> int:
        """Durably keep one batch action in the batch's history; returns its id."""

    async def list_batch_actions(
        self, batch_key: str, max_results: int, next_token: str
    ) -> Page[ActionView]:
        """The batch's actions, newest first; ``max_results`` and tokens as for events."""

    async def list_batches(self, query: BatchQuery) -> Page[BatchView]: ...

    async def list_tasks(self, query: TaskQuery) -> Page[TaskView]: ...

    async def list_quarantine(self, max_results: int, next_token: str) -> Page[QuarantineView]: ...

    async def batch_state_counts(self) -> dict[str, int]:
        """Batches per normalized state (only states that have any), for ``/metrics``."""

    async def rebuild_ledger(self) -> int:
        """Recompute batches and tasks from the journal; returns events replayed."""

    async def ledger_snapshot(self) -> dict[str, Any]:
        """Canonical JSON-ready dump of the ledger (batches, tasks, error codes, totals),
        without arrival times, for ``ledger show`` and equality checks."""

    # ------------------------------------------------------------------ dashboard reads

    async def list_batch_events(
        self, batch_key: str, max_results: int, next_token: str
    ) -> Page[EventView]:
        """Journaled events whose ``batch_key`` is ``batch_key``, newest event time first
        (equal times: ``event_id`` descending). ``max_results`` as in IMM: 0 or less means
        100, more than 100 means 100. A token this method did not issue raises
        ``InvalidTokenError``. An unknown batch gives an empty page."""

    async def batch_history(self, batch_key: str, max_points: int) -> list[HistoryPoint]:
        """The batch's figures over event time, from its rollups (``store/rollups.py``),
        kept at commit, so the cost does not grow with the batch and pruning its journal
        does not erase it.

        Points at the newest event time of each bucket of event time (a second at the
        finest), holding the newest ``Statistic`` so far, the tasks counted by status as the
        ledger's task rule had them at that time (a task changing status counts in the new
        one from its event's time), and the batch's journaled events so far. The span from
        the batch's first to last event time is cut into ``max(2, max_points)`` equal
        buckets and only the last point of each non-empty bucket is kept (so the final point
        always is). Oldest first; empty for an unknown batch."""

    async def changed_batches(self, since: datetime, max_results: int) -> list[BatchView]:
        """Batches whose ``last_received`` is at or after ``since``, oldest ``last_received``
        first (equal: ``batch_key`` ascending), at most ``max_results`` (≥ 1). The live
        stream polls this with a moving cursor, so it must be served by an index."""

    async def overview(self, now: datetime) -> Overview:
        """Batches per state, firing alerts, dead letters, inputs quarantined since
        ``now - QUARANTINE_WINDOW`` and events received since ``now - INGEST_WINDOW``.

        Cheap by construction: the batch counts read the ``state`` index, alerts and dead
        letters their partial indexes; the two windows walk the journal and the quarantine
        backwards from their newest row (arrival order), reading at most ``INGEST_SCAN`` and
        ``QUARANTINE_SCAN`` rows; ``received_capped`` says the first bound was reached."""

    async def failed_tasks(
        self, batch_key: str, codes: Sequence[str], per_code: int
    ) -> dict[str, list[FailedTask]]:
        """For each of ``codes``: the batch's first ``per_code`` tasks now failed with that
        code, oldest status first (equal: ``task_id``), read through the partial index on
        failed tasks; codes with no such task are left out."""

    async def batch_activity(
        self, batch_keys: Sequence[str], since: datetime, bucket: timedelta, buckets: int
    ) -> dict[str, list[int]]:
        """Journaled events per ``bucket`` of event time from ``since``, ``buckets`` of
        them, for each batch of ``batch_keys`` (all zero for a batch with none). An index
        range scan per batch over ``events_by_batch``: it reads that window's events."""

    # ------------------------------------------------------------------ copying a store

    async def read_journal(self, after: int, limit: int) -> list[tuple[int, Inbound]]:
        """Up to ``limit`` journaled events with a sequence number above ``after``, in
        arrival order, as ``(seq, Inbound)``: the event, the bytes it arrived as and when.
        Committing them in that order into another store gives it the same ledger."""

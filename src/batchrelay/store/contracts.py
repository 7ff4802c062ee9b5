"""The parts every store has, as contracts: its outbox, its alert state and its lease.

A store opened by :func:`batchrelay.store.open` exposes them as typed attributes
(``store.outbox``, ``store.alerts``, ``store.lease``), each implemented once per backend in
``store/sqlite/`` and ``store/postgres/`` under the same file names. Callers never learn
which backend they hold.

**Outbox.** Notification obligations are written in the commit transaction of the event
that owes them; the dispatcher flushes due groups into :class:`Delivery` rows, claims,
sends and records them. Times are microseconds since the epoch (:data:`SECOND` per second).

**Alert state.** The evaluator reads through an :class:`AlertStore` and writes one
:class:`Changes` per pass in one transaction: the alerts' new states, the notices they owe
(outbox rows), the digests sent and the dirty marks it has dealt with. So a notice exists
exactly when the state that caused it was saved, and a crash repeats a pass rather than
losing or doubling one. A batch is marked dirty inside the transaction of the event that
changed it; the mark carries a counter, and a pass deletes only the marks it read, so an
event committed while the pass ran leaves its mark for the next.

**Lease.** Which replica runs the timers (``store/coordination.py``): one row per name in
a shared store, always held on a single-process one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, cast

from batchrelay.events.models import FINAL_STATUSES, EventBase
from batchrelay.routing.obligations import Obligations
from batchrelay.routing.silences import Silence
from batchrelay.routing.tree import RouteMatch
from batchrelay.store.base import BatchView


@dataclass(frozen=True, slots=True)
class CommitHooks:
    """What a store does for each new event inside its commit transaction, beside the
    journal and the ledger: write the obligations ``route`` computes to its outbox, and
    mark the event's batch dirty for the alert evaluator. With ``subscriptions``, every
    enabled webhook subscription the event matches is owed a delivery too."""

    route: Callable[[EventBase], Obligations | None] | None = None  # None: nothing routed
    mark_dirty: bool = False
    subscriptions: bool = False

    def __bool__(self) -> bool:
        return self.route is not None or self.mark_dirty or self.subscriptions


SECOND = 1_000_000  # outbox and lease times are microseconds since the epoch


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery, with its events (normalized views, oldest first)."""

    id: str
    receiver: str
    route: str
    group_key: str
    batch_key: str | None
    digest: bool
    attempts: int
    first_attempt_at: int | None
    created_at: int
    events: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One send attempt's outcome, to record: ``delivered``, ``retry`` (again at
    ``next_attempt_at``) or ``dead``, ``at`` (microseconds), taking ``seconds``."""

    delivery: Delivery
    outcome: str
    at: int
    seconds: float
    reason: str | None = None
    detail: str | None = None
    next_attempt_at: int | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting in a notification group: its outbox row and normalized view (kept
    as the JSON text the row holds, and decoded only when a decision needs to look)."""

    outbox_id: int
    batch_key: str | None
    text: str

    @property
    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = json.loads(self.text)
        return view


@dataclass(frozen=True, slots=True)
class DueGroup:
    """A notification group whose timer has run out, with the events waiting in it."""

    receiver: str
    route: str
    group_key: str
    events: list[Pending]


def due_groups_of(rows: Iterable[Sequence[Any]]) -> list[DueGroup]:
    """Due groups from rows of (receiver, route, group_key, outbox id, batch_key, view
    text), ordered by group then id; a group with no pending event has a null id."""
    groups: list[DueGroup] = []
    for receiver, route, group_key, outbox_id, batch_key, view in rows:
        if not groups or (groups[-1].receiver, groups[-1].route, groups[-1].group_key) != (
            receiver, route, group_key,
        ):  # fmt: skip
            groups.append(DueGroup(receiver, route, group_key, []))
        if outbox_id is not None:
            groups[-1].events.append(Pending(outbox_id, batch_key, view))
    return groups


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One delivery a flush makes: its state (``pending`` to be sent; ``muted``,
    ``silenced`` or ``inhibited`` to be recorded, never sent) and its events."""

    state: str
    events: Sequence[Pending]


@dataclass(frozen=True, slots=True)
class GroupFlush:
    """What the dispatcher decided for one due group: the deliveries to make of it."""

    group: DueGroup
    deliveries: Sequence[NewDelivery]


class Outbox(Protocol):
    """The outbox of one store, as the dispatcher, the dead-letter API and the CLI use it."""

    async def due_groups(self, now: int) -> list[DueGroup]:
        """Every group due at ``now``, with its pending events, oldest first."""

    async def flush(self, flushes: Sequence[GroupFlush], now: int) -> int:
        """Make the deliveries decided for due groups and restart their timers; returns how
        many were made. Events flushed meanwhile are left out; a group that gained events
        since :meth:`due_groups` read it stays due, so the next call flushes them; on a
        shared store a group another replica or a commit holds is left for the next call."""

    async def claim_due(self, now: int, lease: int, limit: int) -> list[Delivery]:
        """Take up to ``limit`` deliveries that are due, and ones whose sender died (their
        lease expired), for ``lease``; with their events, in one store round trip."""

    async def claim(self, ids: Sequence[str], now: int, lease: int) -> list[Delivery]: ...

    async def coalesce(
        self, deliveries: Sequence[Delivery], max_events: int, now: int
    ) -> list[str]: ...

    async def record_attempt(
        self,
        delivery: Delivery,
        outcome: str,
        now: int,
        seconds: float,
        reason: str | None = None,
        detail: str | None = None,
        next_attempt_at: int | None = None,
    ) -> None:
        """One attempt: :meth:`record_attempts` of one."""

    async def record_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Every attempt's own outcome, written together (one store round trip)."""

    async def postpone(self, ids: Sequence[str], until: int, now: int) -> None: ...

    async def copy_to(self, delivery: Delivery, receiver: str, now: int) -> str: ...

    async def replay(self, delivery_id: str, now: int) -> bool: ...

    async def list_deliveries(
        self, state: str | None, batch_key: str | None, limit: int, before: str
    ) -> list[dict[str, Any]]: ...

    async def recent_attempts(self, since: int) -> list[tuple[str, int]]:
        """(receiver, time) of every send attempt from ``since`` on, oldest first."""

    async def depth(self) -> dict[str, int]: ...


Status: TypeAlias = Literal["pending", "firing", "resolved"]
_STATUSES: tuple[Status, ...] = ("pending", "firing", "resolved")
_TIMES = ("active_since", "fired_at", "last_notified_at", "resolved_at")


@dataclass(frozen=True)
class AlertState:
    rule: str
    batch_key: str
    labels: Mapping[str, str]
    status: Status
    active_since: datetime
    fired_at: datetime | None = None
    last_notified_at: datetime | None = None
    resolved_at: datetime | None = None
    value: str = ""
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict for the store; :meth:`from_dict` reads it back."""
        data: dict[str, Any] = {
            "rule": self.rule,
            "batch_key": self.batch_key,
            "labels": dict(self.labels),
            "status": self.status,
            "value": self.value,
            "summary": self.summary,
        }
        for name in _TIMES:
            moment: datetime | None = getattr(self, name)
            data[name] = None if moment is None else moment.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        status = data["status"]
        if status not in _STATUSES:
            raise ValueError(f"alert state: unknown status {status!r}")
        times = {name: _parse_time(data.get(name)) for name in _TIMES}
        if times["active_since"] is None:
            raise ValueError("alert state: active_since is missing")
        return cls(
            rule=str(data["rule"]),
            batch_key=str(data["batch_key"]),
            labels={str(k): str(v) for k, v in data["labels"].items()},
            status=cast(Status, status),
            active_since=times["active_since"],
            fired_at=times["fired_at"],
            last_notified_at=times["last_notified_at"],
            resolved_at=times["resolved_at"],
            value=str(data.get("value", "")),
            summary=str(data.get("summary", "")),
        )


def _parse_time(raw: object) -> datetime | None:
    if raw is None:
        return None
    moment = datetime.fromisoformat(str(raw))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"alert times must be timezone-aware, got {moment.isoformat()}")
    return moment


#: States a batch does not leave: its alerts resolve. ``failed`` is not one of them, since
#: a failed batch can be resumed (and a "failed" rule must be able to fire on it).
RESOLVING_STATES = frozenset({"succeeded", "finished"})
#: States that close a batch for now (the ledger's final ones): a completion digest is due,
#: batch-scoped silences end.
CLOSING_STATES = FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice ready for the outbox: its view and where the route tree sends it."""

    view: dict[str, Any]
    matches: Sequence[RouteMatch]


@dataclass(slots=True)
class Changes:
    """Everything one evaluation pass writes, in one transaction."""

    saved: list[AlertState] = field(default_factory=list)
    forgotten: list[tuple[str, str]] = field(default_factory=list)  # (rule, batch_key)
    notices: list[Notice] = field(default_factory=list)
    digests: list[tuple[str, datetime]] = field(default_factory=list)  # (batch_key, finished)
    silences: list[Silence] = field(default_factory=list)  # changed (expired) ones
    cleaned: dict[str, int] = field(default_factory=dict)  # dirty marks read: key -> seq

    def __bool__(self) -> bool:
        return any((self.saved, self.forgotten, self.notices, self.digests, self.silences,
                    self.cleaned))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """What a completion digest lists beyond the batch row."""

    failed: list[dict[str, str]]  # the first failing tasks: object_path, task_id, code, message
    media_urls: list[str]  # ICE: the produced media


class AlertStore(Protocol):
    async def dirty(self, limit: int = 5000) -> dict[str, int]:
        """Batches changed since their last evaluation, with their mark counters."""

    async def watched_batches(self) -> list[str]:
        """What the timer looks at: batches not in a ``RESOLVING_STATES`` state, and
        batches with an alert that is not resolved."""

    async def batches(self, keys: Iterable[str]) -> list[BatchView]: ...

    async def states(self, keys: Iterable[str]) -> dict[tuple[str, str], AlertState]:
        """Every alert of these batches, by (rule, batch_key)."""

    async def alerts(
        self,
        status: str | None = None,
        batch_key: str | None = None,
        rule: str | None = None,
        limit: int = 1000,
    ) -> list[AlertState]:
        """Newest change first, filtered."""

    async def counts(self) -> dict[tuple[str, str], int]:
        """(rule, status) -> number of alerts, for the metrics."""

    async def silences(self, ended_after: datetime | None = None) -> list[Silence]:
        """Silences that end after ``ended_after`` (all when None), newest first."""

    async def silence(self, silence_id: str) -> Silence | None: ...

    async def put_silence(self, silence: Silence, now: datetime) -> None:
        """Insert, or replace the silence with the same id."""

    async def digested(self, keys: Iterable[str]) -> dict[str, int]:
        """batch_key -> the finish (microseconds) its last digest reported."""

    async def digest_facts(self, batch_key: str, limit: int) -> DigestFacts:
        """The first ``limit`` failed tasks (oldest status first) and ICE output URLs."""

    async def apply(self, changes: Changes, now: datetime) -> None:
        """All of ``changes`` in one transaction (nothing when it is empty)."""


class Lease(Protocol):
    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> bool:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``; True when held.

        Held by another holder whose lease has not expired: False, and nothing changes."""

    async def release(self, name: str, holder: str) -> None:
        """Give ``name`` up at once if ``holder`` holds it (a clean shutdown)."""


#: The tables retention prunes, in the order a pass takes them (``Cutoffs`` field names).
RETAINED = ("events", "raw", "deliveries", "quarantine", "alerts", "batches")


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is past retention: rows older than these times (epoch microseconds) go;
    ``None`` keeps them. See ``store/retention.py`` for what each one names."""

    raw: int | None = None  # raw inputs, by received_at
    events: int | None = None  # journal rows of batches finished before it
    deliveries: int | None = None  # finished deliveries (and their attempts), by updated_at
    quarantine: int | None = None  # quarantine records, by received_at
    alerts: int | None = None  # resolved alerts, by updated_at
    batches: int | None = None  # the ledger of batches finished before it, and their journal


@dataclass(frozen=True, slots=True)
class TableStats:
    """One table's footprint: rows, bytes on disk (with its indexes) and its oldest row's
    time (``None``: empty, or a table without a time)."""

    table: str
    rows: int
    bytes: int
    oldest: datetime | None = None


class Retention(Protocol):
    """Pruning what is past retention, a small transaction at a time (``store/retention.py``)."""

    async def prune(self, cutoffs: Cutoffs, limit: int) -> dict[str, int]:
        """One transaction removing at most about ``limit`` rows past ``cutoffs``, from the
        first table in :data:`RETAINED` order that has any; returns the rows removed by
        table (a pruned batch journal also counts its snapshot rows), empty when nothing is
        past retention. A batch's journal rows are pruned only after its ledger rows are
        snapshotted in the same transaction, so ``rebuild_ledger`` stays exact."""

    async def reclaim(self) -> int:
        """Give freed space back to the file system where the backend needs it (SQLite:
        an incremental vacuum of a bounded number of pages); returns the pages freed."""

    async def sizes(self) -> dict[str, int]:
        """Bytes on disk by table (indexes included), cheap enough for a gauge."""

    async def stats(self) -> list[TableStats]:
        """Every table's rows, bytes and oldest row, exactly (it counts): for the CLI."""

"""Where alert state lives: the contract every store implements for the evaluator.

The evaluator reads through an :class:`AlertStore` and writes one :class:`Changes` per
pass in one transaction: the alerts' new states, the notices they owe (outbox rows), the
digests sent and the dirty marks it has dealt with. So a notice exists exactly when the
state that caused it was saved, and a crash repeats a pass rather than losing or doubling
one.

A batch is marked dirty by a commit hook that runs inside the transaction of the event
that changed it. The mark carries a counter: a pass deletes only the marks it read, so an
event committed while the pass ran leaves its mark for the next.

Implementations: ``alerts/state_sqlite.py``, ``store/postgres_alerts.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from batchrelay.alerts.lifecycle import AlertState
from batchrelay.alerts.silences import Silence
from batchrelay.events.models import FINAL_STATUSES
from batchrelay.routing.tree import RouteMatch
from batchrelay.store.base import BatchView

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

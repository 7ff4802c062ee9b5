"""A batch's figures over time, folded from its journal: pure, shared by every store.

A store reads the batch's journaled events in (event time, ``event_id``) order, turns each
into a :class:`JournalFigure` and calls :func:`fold`; see ``Store.batch_history`` for the
contract. The task rule is the ledger's (``store/ledger.py``): a final status outranks a
non-final one, then the newer event wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from batchrelay.events.models import Statistic
from batchrelay.store.base import HistoryPoint
from batchrelay.store.ledger import TASK_KINDS, Rank, status_rank


@dataclass(frozen=True, slots=True)
class JournalFigure:
    """What the history needs of one journaled event."""

    time: datetime
    event_id: str
    kind: str
    task_id: str | None
    status: str
    statistic: Statistic | None


@dataclass(slots=True)
class _Snapshot:
    time: datetime
    statistic: Statistic | None
    counts: dict[str, int]
    events: int

    def point(self) -> HistoryPoint:
        return HistoryPoint(
            time=self.time, statistic=self.statistic, task_counts=self.counts, events=self.events
        )


class _Walk:
    """The running state while events are replayed in order."""

    def __init__(self) -> None:
        self.tasks: dict[str, Rank] = {}
        self.statuses: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.statistic: Statistic | None = None
        self.events = 0

    def apply(self, figure: JournalFigure) -> None:
        self.events += 1
        if figure.statistic is not None:
            self.statistic = figure.statistic  # input is in time order: the newest wins
        if figure.kind not in TASK_KINDS or not figure.task_id:
            return
        rank = status_rank(figure.status, figure.time, figure.event_id)
        held = self.tasks.get(figure.task_id)
        if held is not None and rank <= held:
            return
        if held is not None:
            self.counts[self.statuses[figure.task_id]] -= 1
        self.tasks[figure.task_id] = rank
        self.statuses[figure.task_id] = figure.status
        self.counts[figure.status] += 1

    def snapshot(self, time: datetime) -> _Snapshot:
        counts = {status: n for status, n in sorted(self.counts.items()) if n}
        return _Snapshot(time, self.statistic, counts, self.events)


def fold(
    figures: Iterable[JournalFigure], first: datetime, last: datetime, max_points: int
) -> list[HistoryPoint]:
    """Points over ``figures`` (sorted by time, then event id; spanning ``first``..``last``),
    thinned to at most ``max_points`` equal buckets of time, the last point of each kept."""
    buckets = max(2, max_points)
    width = (last - first) / buckets

    def bucket(time: datetime) -> int:
        return min(int((time - first) / width), buckets - 1) if width else 0

    kept: list[HistoryPoint] = []
    pending: _Snapshot | None = None
    for snapshot in _snapshots(figures):
        if pending is not None and bucket(pending.time) != bucket(snapshot.time):
            kept.append(pending.point())
        pending = snapshot
    if pending is not None:
        kept.append(pending.point())
    return kept


def _snapshots(figures: Iterable[JournalFigure]) -> Iterator[_Snapshot]:
    """The state after each distinct event time."""
    walk = _Walk()
    current: datetime | None = None
    for figure in figures:
        if current is not None and figure.time != current:
            yield walk.snapshot(current)
        current = figure.time
        walk.apply(figure)
    if current is not None:
        yield walk.snapshot(current)

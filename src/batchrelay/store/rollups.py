"""A batch's figures over event time, as rollups kept at commit: pure, shared by every store.

The history chart (``Store.batch_history``) must not read a batch's journal: a batch of a
million tasks has millions of events. Instead each commit adds what its events changed to
``batch_rollups``, one row per batch, *level* and bucket of event time, at every level of
:data:`LEVELS` (from a second to a day): the events journaled in the bucket,
the change in task counts by status, the newest statistic and the newest event time. A
read takes the coarsest level whose buckets are no wider than the chart's, so it reads a
few hundred rows whatever the batch's size, and sums them up in time order.

Task counts follow the ledger's task rule: when a task's status changes from ``old`` (set
by an event at ``t_old``) to ``new`` (at ``t_new``), the task counts as ``new`` from
``t_new`` and as ``old`` only until then, so ``old`` is taken away at the later of the two
times (a final status outranks a newer non-final one, so ``t_new`` may be the earlier). A
report that arrives after a higher-ranked one changes neither the ledger nor the history.
Rollups are kept beside the ledger, not in it: retention of the journal leaves them, and
``ledger rebuild`` does not recompute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batchrelay.events.models import EventBase, Statistic
from batchrelay.store.base import HistoryPoint
from batchrelay.store.ledger import TaskState
from batchrelay.store.row_codec import STATUS_COLUMNS, from_us, status_column, to_us

#: Bucket widths in seconds, finest first.
LEVELS: tuple[int, ...] = (1, 10, 60, 600, 3600, 86400)
_SECOND = 1_000_000
_COUNTS = list(STATUS_COLUMNS.values())
_INDEX = {column: n for n, column in enumerate(_COUNTS)}

#: The columns of a rollup row, in :meth:`Rollups.rows` order.
ROLLUP_COLUMNS = (
    "batch_key, level, bucket, last_time, events, "
    + ", ".join(_COUNTS)
    + ", statistic, statistic_time, statistic_event_id"
)

#: What a history read takes of each row, in :func:`points` order.
HISTORY_COLUMNS = "last_time, events, " + ", ".join(_COUNTS) + ", statistic"


@dataclass(slots=True)
class _Row:
    last_time: int
    events: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * len(_COUNTS))
    statistic: tuple[int, str, str] | None = None  # (time, event id, JSON)

    def copy(self) -> _Row:
        return _Row(self.last_time, self.events, list(self.counts), self.statistic)


class Rollups:
    """What one transaction adds to ``batch_rollups``, summed in memory until written."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int, int], _Row] = {}

    def __bool__(self) -> bool:
        return bool(self._rows)

    def copy(self) -> Rollups:
        copied = Rollups()
        copied._rows = {key: row.copy() for key, row in self._rows.items()}
        return copied

    def _each(self, batch_key: str, time: int) -> list[_Row]:
        rows = []
        for level in LEVELS:
            key = (batch_key, level, time // (level * _SECOND))
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = _Row(time)
            elif time > row.last_time:
                row.last_time = time
            rows.append(row)
        return rows

    def add_event(self, event: EventBase) -> None:
        """One newly journaled event that names a batch."""
        if not event.batch_key:
            return
        time = to_us(event.time)
        statistic = event.statistic
        for row in self._each(str(event.batch_key), time):
            row.events += 1
            newer = row.statistic is None or (time, event.event_id) > row.statistic[:2]
            if statistic is not None and newer:
                row.statistic = (time, event.event_id, statistic.model_dump_json())

    def add_task(self, old: TaskState | None, new: TaskState) -> None:
        """A task's ledger state changed from ``old`` to ``new``."""
        t_new = to_us(new.rank.time)
        if old is not None and old.batch_key:
            t_old = to_us(old.rank.time)
            same = (old.batch_key, old.status, t_old) == (new.batch_key, new.status, t_new)
            if same:
                return
            when = max(t_old, t_new) if old.batch_key == new.batch_key else t_old
            self._count(old.batch_key, old.status, when, -1)
        if new.batch_key:
            self._count(new.batch_key, new.status, t_new, 1)

    def _count(self, batch_key: str, status: str, time: int, n: int) -> None:
        index = _INDEX[status_column(status)]
        for row in self._each(batch_key, time):
            row.counts[index] += n

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows to add, in ``ROLLUP_COLUMNS`` order, sorted by key."""
        out = []
        for (batch_key, level, bucket), row in sorted(self._rows.items()):
            stat = row.statistic or (None, None, None)
            out.append((batch_key, level, bucket, row.last_time, row.events, *row.counts,
                        stat[2], stat[0], stat[1]))  # fmt: skip
        return out


def level_for(first: datetime, last: datetime, max_points: int) -> int:
    """The coarsest level whose buckets fit in the chart's ``max(2, max_points)``."""
    width = (to_us(last) - to_us(first)) / max(2, max_points)
    fitting = [level for level in LEVELS if level * _SECOND <= width]
    return fitting[-1] if fitting else LEVELS[0]


def points(
    rows: list[tuple[Any, ...]], first: datetime, last: datetime, max_points: int
) -> list[HistoryPoint]:
    """The history from one level's rows (``last_time, events, counts…, statistic``),
    oldest bucket first: running sums, then thinned as ``Store.batch_history`` says (the
    span cut into ``max(2, max_points)`` equal buckets, the last point of each kept)."""
    buckets = max(2, max_points)
    start, width = to_us(first), (to_us(last) - to_us(first)) / buckets

    def bucket(time: int) -> int:
        return min(int((time - start) / width), buckets - 1) if width else 0

    counts = [0] * len(_COUNTS)
    events, statistic = 0, None
    kept: list[HistoryPoint] = []
    pending: tuple[int, int, tuple[int, ...], str | None] | None = None
    for last_time, n, *rest in rows:
        events += n
        for index, delta in enumerate(rest[: len(_COUNTS)]):
            counts[index] += delta
        if rest[len(_COUNTS)] is not None:
            statistic = rest[len(_COUNTS)]
        if pending is not None and bucket(pending[0]) != bucket(last_time):
            kept.append(_point(*pending))
        pending = (last_time, events, tuple(counts), statistic)
    if pending is not None:
        kept.append(_point(*pending))
    return kept


def _point(time: int, events: int, counts: tuple[int, ...], statistic: str | None) -> HistoryPoint:
    return HistoryPoint(
        time=from_us(time),
        statistic=Statistic.model_validate_json(statistic) if statistic else None,
        task_counts={status: n for status, column in _SORTED if (n := counts[_INDEX[column]])},
        events=events,
    )


_SORTED = sorted(STATUS_COLUMNS.items())

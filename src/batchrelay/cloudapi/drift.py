"""What differs between what a service reports and what the ledger holds. Pure, no I/O.

A listed batch (IMM ``DataIngestion``) or batch job (ICE ``EditingBatchJob``) drifts from
the ledger's :class:`~batchrelay.store.base.BatchView` in one of four ways, checked in this
order (the first that holds names it):

- ``missing``: the ledger has no such batch;
- ``state``: the normalized state differs;
- ``statistic``: the IMM ``Statistic`` differs (a cumulative snapshot: any difference);
- ``update``: the service's ``UpdateTime`` (ICE ``ModifiedTime``) is newer than anything the
  ledger has seen for the batch, so something else changed (phase, error, tags).

ICE sub-jobs are compared one by one with the ledger's tasks (``subjob_drift``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from batchrelay.events.models import Statistic
from batchrelay.events.parse import normalize_status
from batchrelay.events.timefmt import parse_time
from batchrelay.store.base import BatchView, TaskView

Drift = Literal["missing", "state", "statistic", "update"]
DRIFT_KINDS: tuple[Drift, ...] = ("missing", "state", "statistic", "update")
ONE_MS = timedelta(milliseconds=1)


def service_time(obj: Mapping[str, Any], *keys: str) -> datetime | None:
    """The first of ``keys`` that holds a time the lenient parser reads."""
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str | int) and value != "":
            try:
                return parse_time(value)
            except ValueError:
                continue
    return None


def statistic_of(batch: Mapping[str, Any]) -> Statistic | None:
    given = batch.get("Statistic")
    if not isinstance(given, Mapping):
        return None
    return Statistic(
        submit_success=int(given.get("SubmitSuccess") or 0),
        submit_failure=int(given.get("SubmitFailure") or 0),
        skip_files=int(given.get("SkipFiles") or 0),
    )


def imm_drift(batch: Mapping[str, Any], view: BatchView | None) -> Drift | None:
    """How a listed IMM batch or trigger differs from the ledger, or None."""
    if view is None:
        return "missing"
    if normalize_status(str(batch.get("State") or "")) != view.state:
        return "state"
    if statistic_of(batch) != view.statistic:
        return "statistic"
    updated = service_time(batch, "UpdateTime")
    if updated is not None and updated > view.update_time:
        return "update"
    return None


def ice_drift(job: Mapping[str, Any], view: BatchView | None) -> Drift | None:
    """How a listed ICE batch job differs from the ledger, or None."""
    if view is None:
        return "missing"
    if normalize_status(str(job.get("Status") or "")) != view.state:
        return "state"
    updated = service_time(job, "ModifiedTime", "CompleteTime")
    if updated is not None and updated > view.update_time:
        return "update"
    return None


def subjob_drift(subjob: Mapping[str, Any], task: TaskView | None) -> bool:
    """True when the ledger does not hold this sub-job in the status ICE reports."""
    if task is None:
        return True
    return normalize_status(str(subjob.get("Status") or "")) != task.status


def event_time(reported: datetime | None, seen: datetime | None, now: datetime) -> datetime:
    """When a synthesized event happened: the service's own time (``UpdateTime``), or just
    after the newest event the ledger had for the batch when it was read, if that is later.

    The API is read *after* the ledger, so what it reports is newer than anything the ledger
    held then. Its ``UpdateTime`` often says otherwise: IMM gives it in whole seconds, while
    notifications carry milliseconds, so the final state's ``UpdateTime`` can sort before
    the ``Running`` notification sent in the same second. The ledger keeps the newest event,
    so the synthesized one must sort after what it corrects.
    """
    base = reported or now
    if seen is not None and seen >= base:
        return seen + ONE_MS
    return base

"""What both stores' read queries select, and how a row becomes a view.

The SQL here is the common subset of SQLite and PostgreSQL; the dialects differ only in
placeholders and the statements built around these. A row is whatever the driver returns
(a tuple, an asyncpg ``Record``): both iterate in column order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from batchrelay.store.base import (
    ActionView,
    BatchView,
    EventView,
    FailedTask,
    QuarantineView,
    TaskView,
)
from batchrelay.store.packing import unpack
from batchrelay.store.row_codec import (
    EVENT_COLUMNS,
    STATUS_COLUMNS,
    event_from_journal,
    from_us,
    maybe_time,
)

MAX_RESULTS = 100


def page_size(max_results: int) -> int:
    """IMM semantics: 0 (or less) means the maximum, 100."""
    return MAX_RESULTS if max_results <= 0 else min(max_results, MAX_RESULTS)


BATCH_FIELDS = (
    "batch_key", "kind", "source", "project", "account_id", "region", "state", "raw_state",
    "phase", "error", "statistic", "statistic_time", "tags", "actions", "create_time",
    "update_time", "first_seen", "last_seen", "last_received", "finished_at", "events",
)  # fmt: skip
BATCH_TIMES = ("create_time", "update_time", "first_seen", "last_seen", "last_received")
BATCH_JSON = ("statistic", "tags", "actions")
SELECT_BATCHES = (
    f"SELECT {', '.join(BATCH_FIELDS)}, {', '.join(STATUS_COLUMNS.values())} FROM batches"
)
SORT_COLUMNS = {"CreateTime": "create_time", "UpdateTime": "update_time"}
BATCH_TOKEN = {"sort": str, "order": str, "value": int, "key": str}

TASK_FIELDS = (
    "task_id", "batch_key", "source", "project", "task_type", "object_path", "status",
    "raw_status", "code", "message", "first_seen", "status_time", "event_id",
)  # fmt: skip
SELECT_TASKS = f"SELECT {', '.join(TASK_FIELDS)} FROM tasks"
#: The normalized task statuses: a status filter naming one of them reads tasks_by_status.
STATUS_WORDS = frozenset(STATUS_COLUMNS)
TASK_TOKEN = {"time": int, "key": str}

SELECT_ACTIONS = "SELECT id, batch_key, action, actor, outcome, detail, at FROM batch_actions"
ACTIONS_TOKEN = {"id": int}
#: The raw input may have been pruned by retention: LEFT JOIN, an empty body then.
SELECT_QUARANTINE = (
    "SELECT q.id, q.ingress, q.reason, q.detail, q.headers, r.body, r.packing, q.received_at, "
    "r.encoding, q.failed, q.failures FROM quarantine q LEFT JOIN raw_inputs r ON r.id = q.raw_id"
)
QUARANTINE_TOKEN = {"id": int}
#: A batch's journaled events with their raw inputs; filter on the ``e.`` columns.
SELECT_EVENTS = (
    f"SELECT {EVENT_COLUMNS}, e.received_at, r.body, r.packing, r.encoding FROM events e"
    " LEFT JOIN raw_inputs r ON r.id = e.raw_id"
)
EVENT_TOKEN = {"time": int, "key": str}


def batch_view(row: Any, error_codes: dict[str, int]) -> BatchView:
    fields = dict(zip(BATCH_FIELDS, row, strict=False))
    for name in BATCH_JSON:
        fields[name] = json.loads(fields[name]) if fields[name] is not None else None
    # PostgreSQL's jsonb orders keys its own way; views list tags sorted either way
    fields["tags"] = dict(sorted(fields["tags"].items()))
    for name in (*BATCH_TIMES, "statistic_time", "finished_at"):
        fields[name] = maybe_time(fields[name])
    counts = zip(STATUS_COLUMNS, tuple(row)[len(BATCH_FIELDS) :], strict=True)
    fields["task_counts"] = {status: n for status, n in counts if n}
    fields["error_codes"] = error_codes
    return BatchView.model_validate(fields)


def task_view(row: Any) -> TaskView:
    fields = dict(zip(TASK_FIELDS, row, strict=True))
    fields["first_seen"] = from_us(fields["first_seen"])
    fields["status_time"] = from_us(fields["status_time"])
    return TaskView.model_validate(fields)


def action_view(row: Any) -> ActionView:
    id_, batch_key, action, actor, outcome, detail, at = row
    return ActionView(id=id_, batch_key=batch_key, action=action, actor=actor, outcome=outcome,
                      detail=detail, at=from_us(at))  # fmt: skip


def quarantine_view(row: Any) -> QuarantineView:
    (id_, ingress, reason, detail, headers, stored, packing, received_at, encoding, failed,
     failures) = row  # fmt: skip
    raw = unpack(stored, packing)
    return QuarantineView(
        id=id_,
        ingress=ingress,
        reason=reason,
        detail=detail,
        headers=json.loads(headers),
        raw_base64=base64.b64encode(raw).decode("ascii"),
        size=len(raw),
        received_at=from_us(received_at),
        encoding=encoding or "",
        failed=failed,
        failures=json.loads(failures),
    )


def event_view(row: Any) -> EventView:
    """From a ``SELECT_EVENTS`` row."""
    *stored_event, received_at, stored, packing, encoding = row
    event = event_from_journal(stored_event)
    raw = unpack(stored, packing)
    return EventView(
        event_id=event.event_id,
        type=event.type,
        kind=event.kind,
        source=event.source,
        ingress=event.ingress,
        time=event.time,
        received_at=from_us(received_at),
        task_id=event.task_id,
        status=event.status,
        code=event.code,
        raw_base64=base64.b64encode(raw).decode("ascii"),
        size=len(raw),
        encoding=encoding or "",
    )


def snapshot(
    codes: dict[str, dict[str, int]],
    totals: dict[str, dict[str, int]],
    batch_rows: Iterable[Any],
    task_rows: Iterable[Any],
) -> dict[str, Any]:
    """``Store.ledger_snapshot`` from its rows: arrival times left out, so replays compare."""
    return {
        "batches": {
            row[0]: batch_view(row, codes.get(row[0], {})).model_dump(
                mode="json", exclude={"last_received"}
            )
            for row in batch_rows
        },
        "tasks": {row[0]: task_view(row).model_dump(mode="json") for row in task_rows},
        "error_codes": codes,
        "project_totals": totals,
    }


def failed_task(row: Any) -> FailedTask:
    task_id, object_path, status_time = row
    return FailedTask(task_id=task_id, object_path=object_path, status_time=from_us(status_time))


def buckets(rows: Iterable[Any], count: int) -> list[int]:
    """(bucket index, n) rows as a list of ``count`` numbers, zero where no row."""
    filled = [0] * count
    for index, n in rows:
        if 0 <= index < count:
            filled[index] = n
    return filled


def nest(rows: Iterable[Any]) -> dict[str, dict[str, int]]:
    """(outer, inner, n) rows as ``{outer: {inner: n}}``."""
    nested: dict[str, dict[str, int]] = {}
    for outer, inner, n in rows:
        nested.setdefault(outer, {})[inner] = n
    return nested


def like_pattern(search: str) -> str:
    """A substring for LIKE / ILIKE ... ESCAPE '\': % and _ in it stay literal."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

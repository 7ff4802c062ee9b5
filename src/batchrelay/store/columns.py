"""What both stores' read queries select: the same columns, pages and page tokens.

The SQL here is the common subset of SQLite and PostgreSQL; the dialects differ only in
placeholders and the statements built around these.
"""

from __future__ import annotations

from batchrelay.store.rows import STATUS_COLUMNS

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
TASK_TOKEN = {"time": int, "key": str}

SELECT_QUARANTINE = "SELECT id, ingress, reason, detail, headers, raw, received_at FROM quarantine"
QUARANTINE_TOKEN = {"id": int}

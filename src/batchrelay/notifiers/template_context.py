"""What a template sees: the notification's fields, its events and batch, and a summary of
the batch at a glance (totals, failure ratio, failures by code), computed once per send."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from batchrelay.notifiers import wording
from batchrelay.notifiers.base import Notification


def build_context(notification: Notification, **extra: Any) -> dict[str, Any]:
    """Everything a template sees; ``extra`` adds or overrides keys (dialect, limits)."""
    summary = summarize(notification)
    context: dict[str, Any] = {
        "notification": notification_meta(notification),
        "events": notification.events,
        "batch": notification.batch,
        "digest": notification.digest,
        "omitted": notification.omitted,
        "summary": summary,
        "s": summary,
        "max_failures": 10,
        "dialect": "text",
        "show_title": False,
    }
    context.update(extra)
    return context


def notification_meta(notification: Notification) -> dict[str, Any]:
    """The notification's own fields, JSON-ready (also the webhook body's ``notification``)."""
    return {
        "id": notification.id,
        "receiver": notification.receiver,
        "route": notification.route,
        "group_key": notification.group_key,
        "digest": notification.digest,
        "omitted": notification.omitted,
        "created_at": notification.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def summarize(notification: Notification) -> dict[str, Any]:
    """The batch at a glance, from the batch summary when there is one, else the events."""
    batch = notification.batch or {}
    events = notification.events
    last = events[-1] if events else {}
    statistic = batch.get("statistic") or _latest(events, "statistic")
    task_counts = batch.get("task_counts") or dict(Counter(_task_statuses(events)))
    failures = [_failure(event) for event in events if _is_failure(event)]
    batch_key = batch.get("batch_key") or last.get("batch_key")
    summary = {
        "batch_key": batch_key,
        "project": batch.get("project") or last.get("project"),
        "kind": batch.get("kind") or last.get("kind") or "unknown",
        "state": batch.get("state") or last.get("status") or "unknown",
        "raw_state": batch.get("raw_state") or last.get("raw_status") or "",
        "source": batch.get("source") or last.get("source") or "",
        "statistic": statistic,
        "task_counts": task_counts,
        "failure_ratio": failure_ratio(statistic, task_counts),
        "failures": failures,
        "failure_groups": wording.failure_groups(failures),
        "error_codes": batch.get("error_codes") or dict(Counter(f["code"] for f in failures)),
        "duration": _duration(batch),
        "updated": batch.get("update_time") or last.get("time"),
        "error": batch.get("error") or "",
        **wording.links(notification.public_url, batch_key),
    }
    alerts = [event for event in events if event.get("kind") == "alert"]
    summary["alerts"] = alerts
    summary["completion"] = _latest(events, "completion")
    summary["title"] = wording.title(summary, events, notification.digest)
    return summary


def failure_ratio(statistic: dict[str, Any] | None, task_counts: dict[str, int]) -> float | None:
    """Failed over processed: from the batch Statistic, else from task outcomes."""
    if statistic:
        failed = int(statistic.get("submit_failure") or 0)
        done = failed + int(statistic.get("submit_success") or 0)
    else:
        failed = int(task_counts.get("failed", 0))
        done = failed + int(task_counts.get("succeeded", 0))
    return failed / done if done else None


def _latest(events: list[dict[str, Any]], key: str) -> Any:
    return next((event[key] for event in reversed(events) if event.get(key)), None)


def _task_statuses(events: list[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        if event.get("kind") in ("task", "ice_job", "filemeta") and event.get("status"):
            yield str(event["status"])


def _is_failure(event: dict[str, Any]) -> bool:
    if event.get("kind") in ("alert", "digest"):  # about the batch, not one of its tasks
        return False
    return event.get("status") == "failed" or (
        bool(event.get("code")) and event.get("status") not in ("succeeded", "finished")
    )


def _failure(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": event.get("code") or "unknown",
        "message": event.get("message") or "",
        "object_path": event.get("object_path") or "",
        "task_id": event.get("task_id") or "",
        "time": event.get("time"),
    }


def _duration(batch: dict[str, Any]) -> float | None:
    start = parse_time(str(batch.get("create_time") or ""))
    end = parse_time(str(batch.get("finished_at") or batch.get("update_time") or ""))
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as a template may be given it (``Z`` allowed; naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

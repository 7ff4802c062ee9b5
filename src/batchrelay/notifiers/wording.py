"""How a notification reads: a title that says what happened, failures grouped by error
code, and links to the dashboard.

Titles (``summary.title``; every channel's default title):

- alerts: ``Alert failure-ratio firing for batch batch-7f3a (media-prod)``, ``… still
  firing …`` on a repeat, ``… resolved …``; with more than one alert, ``(+1 more)``;
- a completion digest: ``Batch batch-7f3a succeeded: 1217 files, 37 failed (media-prod)``;
- failed tasks: ``3 tasks failed in batch batch-7f3a (media-prod)`` (ICE sub-jobs are
  ``jobs``, file metadata events ``files``);
- other task updates: ``2 tasks succeeded in batch …``, or ``… updated …`` when mixed;
- a batch event: ``Batch batch-7f3a is running (media-prod)``, ``Trigger … failed``;
- anything else: ``Unknown event <type>``.

A message that coalesces several (the send budget ran short) starts with ``[digest]``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

_NOUNS = {"task": "task", "ice_job": "job", "filemeta": "file"}
_BATCH_NOUNS = {"batch": "Batch", "trigger": "Trigger", "ice_batch": "ICE batch"}
_NOTICES = {"repeat": "still firing", "resolved": "resolved"}
_FINAL = frozenset({"succeeded", "failed", "finished", "suspended", "unknown"})


def title(summary: dict[str, Any], events: list[dict[str, Any]], digest: bool) -> str:
    text = _what_happened(summary, events)
    return f"[digest] {text}" if digest else text


def _what_happened(summary: dict[str, Any], events: list[dict[str, Any]]) -> str:
    where = _where(summary)
    if summary["alerts"]:
        return _alert_title(summary["alerts"], where)
    if summary["completion"]:
        return _completion_title(summary["completion"], summary)
    items = [e for e in events if e.get("kind") in _NOUNS]
    failed = [e for e in items if e.get("status") == "failed"]
    if failed:
        return f"{_count(failed, _noun(items))} failed in {where}"
    if items:
        statuses = {e.get("status") for e in items}
        verb = str(statuses.pop()) if len(statuses) == 1 else "updated"
        return f"{_count(items, _noun(items))} {verb} in {where}"
    if summary["kind"] not in _BATCH_NOUNS:
        kind = events[-1].get("type") if events else None
        return f"Unknown event {kind or ''}".rstrip() + (
            f" in {where}" if summary["batch_key"] else ""
        )
    noun = _BATCH_NOUNS[summary["kind"]]
    state = summary["state"]
    verb = state if state in _FINAL else f"is {state}"
    return f"{noun} {summary['batch_key']} {verb}{_project(summary)}"


def _alert_title(alerts: list[dict[str, Any]], where: str) -> str:
    last = alerts[-1]
    notice = {"repeat": "still firing", "resolved": "resolved"}.get(
        str(last.get("notice")), "firing"
    )
    more = len({a.get("alertname") for a in alerts}) - 1
    extra = f" (+{more} more)" if more > 0 else ""
    return f"Alert {last.get('alertname')} {notice} for {where}{extra}"


def _completion_title(completion: dict[str, Any], summary: dict[str, Any]) -> str:
    noun = _BATCH_NOUNS.get(str(summary["kind"]), "Batch")
    failed = sum((completion.get("failures_by_code") or {}).values())
    unit = "jobs" if summary["kind"] == "ice_batch" else "files"
    figures = f"{completion.get('processed', 0)} {unit}, {failed} failed"
    return f"{noun} {summary['batch_key']} {completion.get('state')}: {figures}{_project(summary)}"


def _where(summary: dict[str, Any]) -> str:
    key = summary["batch_key"]
    return (f"batch {key}" if key else "no batch") + _project(summary)


def _project(summary: dict[str, Any]) -> str:
    return f" ({summary['project']})" if summary["project"] else ""


def _noun(items: list[dict[str, Any]]) -> str:
    kinds = {e.get("kind") for e in items}
    return _NOUNS.get(str(kinds.pop()), "task") if len(kinds) == 1 else "task"


def _count(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def failure_groups(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{code, count, failures}]``, the most frequent code first (ties: first seen)."""
    counts = Counter(f["code"] for f in failures)
    order = {code: index for index, code in enumerate(counts)}
    codes = sorted(counts, key=lambda code: (-counts[code], order[code]))
    return [{"code": code, "count": counts[code],
             "failures": [f for f in failures if f["code"] == code]} for code in codes]  # fmt: skip


def links(public_url: str | None, batch_key: str | None) -> dict[str, str | None]:
    """The batch's dashboard page and the alerts page, when ``server.public_url`` is set."""
    if not public_url:
        return {"url": None, "alerts_url": None}
    batch = f"{public_url}/batches/{quote(batch_key, safe='')}" if batch_key else None
    return {"url": batch, "alerts_url": f"{public_url}/alerts"}

"""What alerts and digests look like to routes, templates and receivers.

An alert notice and a completion digest travel the outbox like any event: each is a view
(a JSON object with the normalized view's keys plus its own) that the route tree matches
and templates render. Their ``kind`` tells them apart from the services' events:

``kind: "alert"``   ``status`` firing | resolved, ``notice`` firing | repeat | resolved,
                    ``alertname``, ``severity``, ``labels``, ``annotations``, ``alert``
                    (the state: active_since, fired_at, resolved_at, …), ``value``
``kind: "digest"``  ``status`` the batch's final state, ``completion`` (totals, duration,
                    throughput, failure ratio, failures by code, failing object paths,
                    output media URLs)

Per-task notifications get labels too, so silences and inhibition can name them:
``routing.silences.event_labels``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from batchrelay.alerts.expr import batch_context
from batchrelay.alerts.lifecycle import Notice
from batchrelay.alerts.rules import AlertRuleConfig
from batchrelay.events.models import format_time
from batchrelay.routing.tree import RouteMatch
from batchrelay.store.base import BatchView
from batchrelay.store.contracts import DigestFacts

SOURCE = "batchrelay"


def alert_view(
    notice: Notice, rule: AlertRuleConfig, batch: BatchView, now: datetime
) -> dict[str, Any]:
    alert = notice.alert
    status = "resolved" if alert.status == "resolved" else "firing"
    return {
        **_common(batch, now),
        "event_id": f"alert:{alert.rule}:{alert.batch_key}:{notice.kind}:{format_time(now)}",
        "type": f"batchrelay:Alert:{notice.kind.capitalize()}",
        "kind": "alert",
        "status": status,
        "notice": notice.kind,
        "alertname": alert.rule,
        "severity": rule.severity,
        "labels": dict(alert.labels),
        "annotations": {**rule.annotations, "summary": alert.summary} if alert.summary
        else dict(rule.annotations),
        "value": alert.value,
        "alert": alert.to_dict(),
    }  # fmt: skip


def digest_view(batch: BatchView, facts: DigestFacts, now: datetime) -> dict[str, Any]:
    figures = batch_context(batch, now)
    finished = batch.finished_at or batch.last_seen
    seconds = max((finished - batch.create_time).total_seconds(), 0.0)
    processed = int(figures["processed"])
    total_failed = sum(batch.error_codes.values()) or int(figures["tasks_failed"])
    completion = {
        "state": batch.state,
        "statistic": batch.statistic.model_dump() if batch.statistic else None,
        "task_counts": dict(batch.task_counts),
        "processed": processed,
        "duration_seconds": seconds,
        "throughput_per_minute": processed / seconds * 60 if seconds > 0 else None,
        "failure_ratio": figures["failure_ratio"],
        "failures_by_code": dict(sorted(batch.error_codes.items(), key=lambda kv: -kv[1])),
        "failed": facts.failed,
        "failed_not_listed": max(total_failed - len(facts.failed), 0),
        "media_urls": facts.media_urls,
        "started_at": format_time(batch.create_time),
        "finished_at": format_time(finished),
    }
    return {
        **_common(batch, now),
        "event_id": f"digest:{batch.batch_key}:{format_time(finished)}",
        "type": "batchrelay:Batch:Completed",
        "kind": "digest",
        "status": batch.state,
        "raw_status": batch.raw_state,
        "completion": completion,
    }


def _common(batch: BatchView, now: datetime) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "time": format_time(now),
        "account_id": batch.account_id,
        "region": batch.region,
        "project": batch.project,
        "batch_key": batch.batch_key,
        "batch_kind": batch.kind,
        "batch_state": batch.state,
        "tags": dict(batch.tags),
    }


def direct_match(receiver: str, route: str, group: str, repeat_interval: float) -> RouteMatch:
    """Where a rule (or the digest) with its own ``receiver`` sends: past the route tree,
    at once, one group per alert."""
    return RouteMatch(
        route=route,
        name=route,
        receiver=receiver,
        group_key=json.dumps([route, receiver, group], ensure_ascii=False),
        group_labels=(),
        group_wait=0.0,
        group_interval=0.0,
        repeat_interval=repeat_interval,
        muted=False,
    )

"""Every kind of notification a receiver can be handed, built the way the daemon builds them.

Events come from the notifier test helpers (the normalized view), alert notices from the
real lifecycle (``lifecycle.step``) and ``alert_view``, completion digests from
``digest_view``, so a change to any of those shapes reaches the template tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from batchrelay.alerts.lifecycle import AlertSubject, Notice, step
from batchrelay.alerts.notices import alert_view, digest_view
from batchrelay.alerts.rules import AlertRuleConfig
from batchrelay.notifiers.base import Notification
from batchrelay.store.base import BatchView
from batchrelay.store.contracts import DigestFacts
from tests.notifiers.support import BATCH, failed_task

NOW = datetime(2026, 11, 20, 3, 12, 30, tzinfo=UTC)
RULE = AlertRuleConfig(
    name="failure-ratio",
    condition="failure_ratio > 0.05 && processed >= 100",
    severity="critical",
    annotations={"summary": "{{ batch_key }}: more than 5% of processed files failed"},
)


def batch_view(**changes: Any) -> BatchView:
    return BatchView.model_validate(BATCH | changes)


def alert_notices() -> dict[str, dict[str, Any]]:
    """firing, repeat and resolved notices of one alert, as the evaluator writes them."""
    subject = AlertSubject(RULE.name, "batch-7f3a", {"severity": "critical"}, "ratio=0.06",
                           "batch-7f3a: more than 5% of processed files failed")  # fmt: skip
    timing = {"for_seconds": 0.0, "repeat_interval": timedelta(hours=4), "send_resolved": True}
    views: dict[str, dict[str, Any]] = {}
    state = None
    hours = ((0, True), (5, True), (6, False))  # fires, repeats after 4h, resolves
    for at, holds in ((NOW + timedelta(hours=h), holds) for h, holds in hours):
        state, notices = step(state, subject=subject, condition_true=holds, batch_final=False,
                              now=at, **timing)  # type: ignore[arg-type]  # fmt: skip
        notice: Notice = notices[0]
        views[notice.kind] = alert_view(notice, RULE, batch_view(), at)
    return views


def completion(ice: bool = False, instant: bool = False, failed: int = 3) -> dict[str, Any]:
    """A completion digest; ``instant``: created and finished at once (no throughput)."""
    finished = NOW if not instant else datetime.fromisoformat("2026-11-20T02:00:00+00:00")
    batch = batch_view(
        state="succeeded" if not ice else "finished",
        raw_state="Succeeded" if not ice else "Finished",
        kind="ice_batch" if ice else "batch",
        source="acs.ice" if ice else "acs.imm",
        finished_at=finished,
    )
    facts = DigestFacts(
        failed=[{"object_path": f"oss://media-in/2026/clip_{i:04d}.mp4", "task_id": f"t-{i}",
                 "code": "InvalidParameter.Source" if i % 3 else "ResourceNotFound",
                 "message": f"clip_{i:04d}.mp4 could not be decoded"} for i in range(failed)],
        media_urls=[f"https://media-out.oss-cn-hangzhou.aliyuncs.com/out/{i}.mp4"
                    for i in range(3)] if ice else [],
    )  # fmt: skip
    return digest_view(batch, facts, NOW)


def ice_job(index: int, status: str = "failed") -> dict[str, Any]:
    return failed_task(index, source="acs.ice", type="ice:ProduceMediaComplete", kind="ice_job",
                       status=status, task_type="ProduceMedia", object_path="",
                       code="InvalidParameter" if status == "failed" else "")  # fmt: skip


def notification(events: list[dict[str, Any]], **fields: Any) -> Notification:
    values: dict[str, Any] = {
        "id": "ntf_01JD6X7V8Q2W3E4R5T6Y7U8I9O",
        "receiver": "ops",
        "route": "root/0",
        "group_key": '["root/0","ops",[["batch_key","batch-7f3a"]]]',
        "events": events,
        "batch": BATCH,
        "created_at": NOW,
    }
    return Notification(**(values | fields))


def every_message() -> dict[str, Notification]:
    """Name → notification, one of each kind a receiver can be given."""
    alerts = alert_notices()
    long_failures = [
        failed_task(i, code=f"Code.{i % 7}", message="x" * 400, object_path=f"oss://b/{'p' * 200}")
        for i in range(300)
    ]
    messages = {
        "one failed task": notification([failed_task(0)]),
        "failed tasks of two codes": notification(
            [
                failed_task(i, code="ResourceNotFound" if i % 4 == 0 else "InvalidParameter.Source")
                for i in range(14)
            ]
        ),
        "task succeeded, no batch": notification(
            [failed_task(1, status="succeeded", code="", message="")], batch=None
        ),
        "batch event": notification(
            [
                failed_task(
                    0,
                    kind="batch",
                    task_id="",
                    object_path="",
                    status="running",
                    code="",
                    message="",
                    statistic=BATCH["statistic"],
                )
            ]
        ),
        "batch failed": notification(
            [failed_task(0, kind="batch", status="failed", code="InternalError", task_id="")],
            batch=BATCH | {"state": "failed", "raw_state": "Failed", "error": "InternalError"},
        ),
        "ice jobs": notification([ice_job(0), ice_job(1, "succeeded")]),
        "unknown event": notification(
            [failed_task(0, kind="unknown", status="unknown", batch_key=None, project=None)],
            batch=None,
        ),
        "nothing": notification([], batch=None),
        "alert firing": notification([alerts["firing"]]),
        "alert repeat": notification([alerts["repeat"]]),
        "alert resolved": notification([alerts["resolved"]]),
        "completion digest": notification([completion()]),
        "completion digest, ICE": notification(
            [completion(ice=True)], batch=BATCH | {"kind": "ice_batch", "state": "finished"}
        ),
        "completion digest, instant": notification([completion(instant=True, failed=0)]),
        "completion digest, many failures": notification([completion(failed=150)]),
        "coalesced digest": notification(
            [failed_task(0), alerts["firing"], completion(), ice_job(2)], digest=True, omitted=12
        ),
        "coalesced alerts": notification(
            [alerts["firing"], replace_alert(alerts["firing"], "stalled")], digest=True
        ),
        "truncated and split": notification(long_failures, omitted=700),
    }
    return messages


def replace_alert(view: dict[str, Any], rule: str) -> dict[str, Any]:
    return view | {"alertname": rule, "labels": view["labels"] | {"alertname": rule},
                   "event_id": view["event_id"].replace(RULE.name, rule)}  # fmt: skip

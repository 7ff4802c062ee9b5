"""``batchrelay routes test --alert RULE`` and ``--digest BATCH_KEY``: the notice an alert
rule or a completion digest would send, where it goes, and what each receiver would be
sent, without sending anything (``preview/messages.py`` renders).

A notice goes where the evaluator sends it: to the rule's (or the digest's) own
``receiver`` when it names one, else through the route tree. Without a batch from the
store, ``--alert`` shows the notice for :func:`example_batch`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from batchrelay.alerts.evaluator import firing_view
from batchrelay.alerts.notices import digest_view, direct_match
from batchrelay.config import Settings
from batchrelay.events.models import Statistic
from batchrelay.preview.messages import Preview, preview_view
from batchrelay.routing.tree import RouteMatch, RouteTree
from batchrelay.store.base import BatchView
from batchrelay.store.contracts import DigestFacts

#: A notice's view and where it goes.
Notice = tuple[dict[str, Any], list[RouteMatch]]


def example_batch(now: datetime) -> BatchView:
    """A running IMM batch an hour old, with failures, for previewing alert notices."""
    started = now - timedelta(hours=1)
    return BatchView(
        batch_key="batch-example", kind="batch", source="acs.imm", project="docs-prod",
        state="running", raw_state="Running",
        statistic=Statistic(submit_success=940, submit_failure=60, skip_files=3),
        task_counts={"succeeded": 940, "failed": 60, "running": 12},
        error_codes={"InvalidFile.Corrupted": 41, "ResourceNotFound": 19},
        create_time=started, update_time=now, first_seen=started, last_seen=now,
        last_received=now,
    )  # fmt: skip


def alert_notice(settings: Settings, rule_name: str, batch: BatchView, now: datetime) -> Notice:
    rule = next(r for r in settings.alerts.rules if r.name == rule_name)
    view = firing_view(rule, batch, now)
    if rule.receiver is not None:
        route = f"alerts/{rule.name}"
        return view, [direct_match(rule.receiver, route, batch.batch_key, rule.repeat_interval)]
    return view, _through_tree(settings, view, now)


def digest_notice(
    settings: Settings, batch: BatchView, facts: DigestFacts, now: datetime
) -> Notice:
    view = digest_view(batch, facts, now)
    receiver = settings.alerts.digest.receiver
    if receiver is not None:
        return view, [direct_match(receiver, "digests", batch.batch_key, 0.0)]
    return view, _through_tree(settings, view, now)


def _through_tree(settings: Settings, view: dict[str, Any], now: datetime) -> list[RouteMatch]:
    # Not split: a preview shows the routes to null receivers too, as dropped.
    return RouteTree(settings.routing).match(view, now) if settings.routing is not None else []


async def preview_notice(
    settings: Settings, notice: Notice, batch: BatchView, now: datetime
) -> list[Preview]:
    view, matches = notice
    return await preview_view(settings, view, matches, now, batch.model_dump(mode="json"))

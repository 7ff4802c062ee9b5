"""Silences and inhibition applied to per-event notifications, when their group flushes.

Before each flush the dispatcher asks :class:`NotificationHold` for a check over pending
events' views. A silence that matches the event's labels (``routing.silences.event_labels``:
``alertname`` ``task_failed`` and so on) holds it back as ``silenced``; a firing alert that
inhibits it, as ``inhibited``. Alert notices and digests pass: the evaluator has decided
about them already. With no silence and no firing alert there is no check at all, so the
common case costs one small read per tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from batchrelay.routing.inhibit import InhibitRule, inhibited
from batchrelay.routing.silences import event_labels, silenced_by
from batchrelay.store.contracts import SECOND, AlertStore, Check


class NotificationHold:
    def __init__(self, alerts: AlertStore, inhibit_rules: Sequence[InhibitRule]) -> None:
        self.alerts = alerts
        self.inhibit_rules = list(inhibit_rules)

    async def __call__(self, now: int) -> Check | None:
        at = datetime.fromtimestamp(now / SECOND, UTC)
        silences = [s for s in await self.alerts.silences(ended_after=at) if s.active(at)]
        firing = (
            [a.labels for a in await self.alerts.alerts("firing")] if self.inhibit_rules else []
        )
        if not silences and not firing:
            return None

        def check(view: dict[str, Any]) -> str | None:
            if view.get("kind") in ("alert", "digest"):
                return None
            labels = event_labels(view)
            if silenced_by(labels, silences, at):
                return "silenced"
            if firing and inhibited(labels, firing, self.inhibit_rules):
                return "inhibited"
            return None

        return check

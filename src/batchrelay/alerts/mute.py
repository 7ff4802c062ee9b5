"""Silences and inhibition applied to per-event notifications, when their group flushes.

The outbox asks :meth:`NotificationHold.__call__` once per flush, on the writer's
connection, for a check over each pending event's view. A silence that matches the
event's labels (``notices.event_labels``: ``alertname`` ``task_failed`` and so on) holds
it back as ``silenced``; a firing alert that inhibits it, as ``inhibited``. Alert notices
and digests pass: the evaluator has decided about them already.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from batchrelay.alerts.inhibit import InhibitRule, inhibited
from batchrelay.alerts.notices import event_labels
from batchrelay.alerts.silences import Silence, silenced_by

SECOND = 1_000_000


class NotificationHold:
    def __init__(self, inhibit_rules: Sequence[InhibitRule]) -> None:
        self.inhibit_rules = list(inhibit_rules)

    def __call__(
        self, conn: sqlite3.Connection, now: int
    ) -> Callable[[dict[str, Any]], str | None]:
        at = datetime.fromtimestamp(now / SECOND, UTC)
        silences = [
            Silence.from_dict(json.loads(data))
            for (data,) in conn.execute("SELECT data FROM silences WHERE ends_at > ?", (now,))
        ]
        firing = (
            [json.loads(state)["labels"] for (state,) in conn.execute(
                "SELECT state FROM alerts WHERE status = 'firing'")]
            if self.inhibit_rules else []
        )  # fmt: skip

        def check(view: dict[str, Any]) -> str | None:
            if view.get("kind") in ("alert", "digest") or not (silences or firing):
                return None
            labels = event_labels(view)
            if silenced_by(labels, silences, at):
                return "silenced"
            if firing and inhibited(labels, firing, self.inhibit_rules):
                return "inhibited"
            return None

        return check

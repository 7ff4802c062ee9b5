"""Prometheus Alertmanager: alerts posted to ``/api/v2/alerts``.

Request: ``POST {url}/api/v2/alerts`` with a JSON list of ``{labels, annotations,
startsAt, endsAt, generatorURL}`` (RFC 3339 times). Alertmanager identifies an alert by
its labels and keeps the annotations of the last one received.

A plain notification becomes one alert: labels ``alertname: BatchrelayNotification``,
``receiver``, ``route``, ``batch_key``, ``project``, ``kind``, ``state``, ``source`` (empty
ones left out) plus the configured static ``labels``; annotations ``summary`` (the
title), ``description`` (the text), ``notification_id``, ``group_key``; ``startsAt`` is
the notification time and ``endsAt`` ``resolve_after`` seconds later, since a
notification is an event and no one will send it resolved.

batchrelay's own alerts (events of kind ``alert``, see ``alerts/notices.py``) are posted as
themselves (:meth:`AlertmanagerNotifier.batch_alert`): the alert's stable labels
(``alertname`` = the rule, ``batch_key``, ``severity``, ``project``, ``kind`` and the
rule's labels), ``startsAt`` when it fired, and ``endsAt`` when it resolved — or, while it
fires, ``resolve_after`` from now; the evaluator re-posts firing alerts well before that,
as Prometheus does, so Alertmanager resolves them on its own only if batchrelay is gone.

Answers: 200 accepted; 400 (a malformed alert) → ``client_error``; the rest by the shared
HTTP rules. No platform budget by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.common import ChatNotifier
from batchrelay.notifiers.config import (
    LABEL_NAME,
    AlertmanagerConfig,
)
from batchrelay.notifiers.text import fit_chars

ALERTNAME = "BatchrelayNotification"
DESCRIPTION_CHARS = 8000


class AlertmanagerNotifier(ChatNotifier):
    kind = "alertmanager"
    dialect = "text"
    show_title = False

    def __init__(
        self, name: str, config: AlertmanagerConfig, session: aiohttp.ClientSession
    ) -> None:
        super().__init__(name, config, session)
        self.am = config
        base = config.url.get_secret_value().rstrip("/")
        self._url = base if base.endswith("/api/v2/alerts") else f"{base}/api/v2/alerts"

    def secrets(self) -> Iterable[str]:
        yield self.am.url.get_secret_value()
        if self.am.bearer_token is not None:
            yield self.am.bearer_token.get_secret_value()

    async def send(self, notification: Notification) -> None:
        ours = [e for e in notification.events if e.get("kind") == "alert"]
        others = [e for e in notification.events if e.get("kind") != "alert"]
        alerts = [self.batch_alert(view, notification.created_at) for view in ours]
        if others or not ours:
            alerts.append(self.alert(replace(notification, events=others)))
        await self.send_alerts(alerts)

    async def send_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Post Alertmanager ``postableAlerts`` as they are (the alerts module's own)."""
        headers = {}
        if self.am.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.am.bearer_token.get_secret_value()}"
        self._raise_for_status(await self._post(self._url, alerts, headers))

    def alert(self, notification: Notification) -> dict[str, Any]:
        title, text = self.render(notification)
        batch = notification.batch or {}
        last = notification.events[-1] if notification.events else {}
        labels = {
            "alertname": ALERTNAME,
            "receiver": self.name,
            "route": notification.route,
            "batch_key": batch.get("batch_key") or last.get("batch_key"),
            "project": batch.get("project") or last.get("project"),
            "kind": batch.get("kind") or last.get("kind"),
            "state": batch.get("state") or last.get("status"),
            "source": batch.get("source") or last.get("source"),
        }
        alert: dict[str, Any] = {
            "labels": {k: str(v) for k, v in (self.am.labels | labels).items() if v},
            "annotations": {
                "summary": title,
                "description": fit_chars(text, DESCRIPTION_CHARS),
                "notification_id": notification.id,
                "group_key": notification.group_key,
            },
            "startsAt": _rfc3339(notification.created_at),
            "endsAt": _rfc3339(notification.created_at + timedelta(seconds=self.am.resolve_after)),
        }
        key = alert["labels"].get("batch_key")
        if self.am.generator_url and key:
            alert["generatorURL"] = f"{self.am.generator_url.rstrip('/')}/batches/{quote(key)}"
        return alert

    def batch_alert(self, view: dict[str, Any], now: datetime) -> dict[str, Any]:
        """One of batchrelay's alerts (an ``alert`` view) as Alertmanager's postable alert."""
        state = view.get("alert") or {}
        labels = self.am.labels | {str(k): str(v) for k, v in (view.get("labels") or {}).items()}
        resolved = state.get("resolved_at") if view.get("status") == "resolved" else None
        ends = resolved or _rfc3339(now + timedelta(seconds=self.am.resolve_after))
        annotations = {str(k): str(v) for k, v in (view.get("annotations") or {}).items()}
        if view.get("value"):
            annotations["value"] = str(view["value"])
        alert: dict[str, Any] = {
            "labels": {k: v for k, v in labels.items() if v and LABEL_NAME.match(k)},
            "annotations": annotations,
            "startsAt": state.get("fired_at") or state.get("active_since") or _rfc3339(now),
            "endsAt": ends,
        }
        key = labels.get("batch_key")
        if self.am.generator_url and key:
            alert["generatorURL"] = f"{self.am.generator_url.rstrip('/')}/batches/{quote(key)}"
        return alert


def _rfc3339(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))

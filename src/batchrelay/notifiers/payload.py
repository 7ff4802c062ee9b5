"""The default JSON body (webhook, MNS topic) and templated JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from batchrelay.notifiers.base import FailureReason, Notification, SendError, send_error
from batchrelay.notifiers.http import json_bytes
from batchrelay.notifiers.template_context import notification_meta
from batchrelay.notifiers.templates import Template


def default_body(notification: Notification, max_bytes: int | None = None) -> bytes:
    """``{"notification": {...}, "events": [...], "batch": {...}}`` as UTF-8 JSON.

    With ``max_bytes``, events are dropped from the end (and counted in
    ``notification.omitted``) until the body fits.
    """
    events = notification.events
    while True:
        meta = notification_meta(notification)
        meta["omitted"] = notification.omitted + len(notification.events) - len(events)
        body = json_bytes({"notification": meta, "events": events, "batch": notification.batch})
        if max_bytes is None or len(body) <= max_bytes or not events:
            return body
        events = events[: len(events) // 2]


def templated_body(template: Template, notification: Notification, **extra: Any) -> bytes:
    """Render a template that must produce JSON; anything else is a ``template`` error."""
    text = template.render(notification, dialect="text", **extra).strip()
    try:
        json.loads(text)
    except ValueError as exc:
        raise _not_json(template.where, exc) from None
    return text.encode()


def _not_json(where: str, exc: ValueError) -> SendError:
    return send_error(FailureReason.TEMPLATE, f"{where}: the rendered body is not JSON: {exc}")

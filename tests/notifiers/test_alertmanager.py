"""Alertmanager: ``POST /api/v2/alerts`` with postable alerts, as its OpenAPI spec says."""

from __future__ import annotations

from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.alertmanager import AlertmanagerConfig, AlertmanagerNotifier

from .support import PlatformFactory, Seen, answer, assert_no_secret, send_error

BEARER = "am-token-0a1b2c3d4e5f"


async def alertmanager(seen: Seen) -> web.Response:
    """Validates postableAlerts: a list; string labels incl. alertname; RFC 3339 times."""
    if seen.method != "POST" or seen.path != "/api/v2/alerts":
        return answer(404, "404 page not found")
    if seen.headers.get("Authorization") != f"Bearer {BEARER}":
        return answer(401, "Unauthorized")
    alerts = seen.json()
    if not isinstance(alerts, list):
        return answer(400, {"code": 602, "message": "body must be a list"})
    for alert in alerts:
        labels = alert.get("labels", {})
        if "alertname" not in labels or not all(isinstance(v, str) and v for v in labels.values()):
            return answer(400, {"code": 400, "message": "invalid label set"})
        for key in ("startsAt", "endsAt"):
            if key in alert:
                datetime.fromisoformat(alert[key].replace("Z", "+00:00"))
    return answer(200, b"")


def config(base: str, **extra: object) -> AlertmanagerConfig:
    fields = {"type": "alertmanager", "url": base, "bearer_token": BEARER} | extra
    parsed = RECEIVER_ADAPTER.validate_python(fields)
    assert isinstance(parsed, AlertmanagerConfig)
    return parsed


async def test_one_alert_per_notification(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(alertmanager)
    cfg = config(server.url, labels={"team": "media"}, generator_url="https://relay.example/")
    await build_notifier("am", cfg, session).send(notification)
    [alert] = server.last.json()
    assert alert["labels"] == {
        "alertname": "BatchrelayNotification",
        "receiver": "am",
        "route": "/imm/failures",
        "batch_key": "batch-7f3a",
        "project": "video-prod",
        "kind": "batch",
        "state": "running",
        "source": "acs.imm",
        "team": "media",
    }
    assert alert["annotations"]["summary"] == "3 tasks failed in batch batch-7f3a (video-prod)"
    assert alert["annotations"]["notification_id"] == notification.id
    assert "- Failure ratio: 3.0%" in alert["annotations"]["description"]
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-11-20T03:12:30Z", "2026-11-20T03:27:30Z")
    assert alert["generatorURL"] == "https://relay.example/batches/batch-7f3a"


async def test_send_alerts_posts_them_as_given(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(alertmanager)
    notifier = build_notifier("am", config(server.url + "/"), session)
    assert isinstance(notifier, AlertmanagerNotifier)
    alerts = [
        {
            "labels": {"alertname": "BatchFailureRatio", "batch_key": "b-1"},
            "startsAt": "2026-11-20T03:00:00Z",
        },
        {
            "labels": {"alertname": "BatchStalled", "batch_key": "b-2"},
            "endsAt": "2026-11-20T04:00:00Z",
        },
    ]
    await notifier.send_alerts(alerts)
    assert server.last.json() == alerts


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, FailureReason.CLIENT_ERROR),
        (500, FailureReason.SERVER_ERROR),
        (401, FailureReason.AUTH_ERROR),
    ],
)
async def test_errors(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    reason: FailureReason,
) -> None:
    server = await platform(alertmanager)
    server.then(status, {"code": status, "message": "nope"})
    error = await send_error(build_notifier("am", config(server.url), session).send(notification))
    assert error.reason is reason


async def test_bearer_token_is_required_and_hidden(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    async def echo(seen: Seen) -> web.Response:
        return answer(401, f"Unauthorized: {seen.headers.get('Authorization')}")

    server = await platform(echo)
    cfg = config(server.url)
    error = await send_error(build_notifier("am", cfg, session).send(notification))
    assert error.reason is FailureReason.AUTH_ERROR
    assert_no_secret([BEARER], error, repr(cfg))


def test_label_names_are_checked() -> None:
    with pytest.raises(ValueError, match="label names"):
        config("http://am:9093", labels={"bad-name": "x"})

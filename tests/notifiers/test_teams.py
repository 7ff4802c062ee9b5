"""Microsoft Teams Workflows webhook: the Adaptive Card envelope and HTTP-status errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.teams import TeamsConfig

from .support import PlatformFactory, Seen, answer, assert_no_secret, make_notification, send_error

PATH = "/workflows/4d2c0e8f9a1b/triggers/manual/paths/invoke"
SIG = "Zk3v9QW2rT8yU1iO0pAsDfGhJkL7zXcV6bNm5"


async def workflow(seen: Seen) -> web.Response:
    if seen.path != PATH or seen.query.get("sig") != SIG:
        return answer(401, {"error": {"code": "DirectApiAuthorizationRequired"}})
    body = seen.json()
    if body.get("type") != "message" or len(body.get("attachments", [])) != 1:
        return answer(400, {"error": {"code": "InvalidRequestContent"}})
    attachment = body["attachments"][0]
    if (
        attachment["contentType"] != "application/vnd.microsoft.card.adaptive"
        or "contentUrl" not in attachment
    ):
        return answer(400, {"error": {"code": "InvalidRequestContent"}})
    if attachment["content"]["type"] != "AdaptiveCard" or len(seen.body) > 28 * 1024:
        return answer(413, "Request Entity Too Large")
    return answer(202, b"")


def config(base: str, **extra: object) -> TeamsConfig:
    url = f"{base}{PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
    parsed = RECEIVER_ADAPTER.validate_python({"type": "teams", "url": url} | extra)
    assert isinstance(parsed, TeamsConfig)
    return parsed


async def test_adaptive_card_envelope(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(workflow)
    await build_notifier("teams", config(server.url), session).send(notification)
    card = server.last.json()["attachments"][0]["content"]
    title, text = card["body"]
    assert card["version"] == "1.4" and card["$schema"].startswith("http://adaptivecards.io")
    assert (title["text"], title["weight"], title["color"]) == (
        "3 tasks failed in batch batch-7f3a (video-prod)",
        "Bolder",
        "Warning",
    )
    assert text["wrap"] is True and "- **Failure ratio**: 3.0%" in text["text"]
    assert "`" not in text["text"]  # Adaptive Cards have no code spans


async def test_large_card_is_truncated_under_28_kb(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(workflow)
    await build_notifier("teams", config(server.url, max_failures=500), session).send(
        make_notification(failures=500)
    )
    assert len(server.last.body) <= 28 * 1024
    assert "… truncated:" in server.last.json()["attachments"][0]["content"]["body"][1]["text"]


@pytest.mark.parametrize(
    ("status", "headers", "reason", "retry_after"),
    [
        (413, {}, FailureReason.CLIENT_ERROR, None),
        (400, {}, FailureReason.CLIENT_ERROR, None),
        (401, {}, FailureReason.AUTH_ERROR, None),
        (503, {"Retry-After": "12"}, FailureReason.SERVER_ERROR, 12.0),
    ],
)
async def test_errors(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    headers: dict[str, str],
    reason: FailureReason,
    retry_after: float | None,
) -> None:
    server = await platform(workflow)
    server.then(status, "error", headers)
    error = await send_error(build_notifier("t", config(server.url), session).send(notification))
    assert (error.reason, error.retry_after) == (reason, retry_after)


async def test_429_with_http_date(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(workflow)
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    server.then(429, "", {"Retry-After": later})
    error = await send_error(build_notifier("t", config(server.url), session).send(notification))
    assert error.reason is FailureReason.RATE_LIMITED
    assert error.retry_after is not None and 35 <= error.retry_after <= 41


async def test_sig_never_leaks(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    async def echo(seen: Seen) -> web.Response:
        return answer(400, f"bad request {seen.query}")

    server = await platform(echo)
    cfg = config(server.url)
    error = await send_error(build_notifier("t", cfg, session).send(notification))
    assert_no_secret([SIG], error, repr(error), repr(cfg))


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((4, 1.0),)

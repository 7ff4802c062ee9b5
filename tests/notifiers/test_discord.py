"""Discord webhook: ``wait=true``, one embed within Discord's limits, mention suppression,
and the 429 JSON body with a fractional ``retry_after``."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.discord import DiscordConfig

from .support import PlatformFactory, Seen, answer, assert_no_secret, make_notification, send_error

TOKEN = "kZ9x_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1HgFeDcBa0zYxWvUtSrQpOnMlKjIhGfEdCbA9876543210"
PATH = f"/api/webhooks/1234567890123456789/{TOKEN}"


async def discord(seen: Seen) -> web.Response:
    if seen.path != PATH:
        return answer(401, {"message": "Invalid Webhook Token", "code": 50027})
    body = seen.json()
    embeds = body.get("embeds", [])
    too_long = (
        len(body.get("content", "")) > 2000
        or len(embeds) > 10
        or any(
            len(e.get("title", "")) > 256 or len(e.get("description", "")) > 4096 for e in embeds
        )
    )
    total = sum(len(e.get("title", "")) + len(e.get("description", "")) for e in embeds)
    if too_long or total > 6000:
        return answer(400, {"message": "Invalid Form Body", "code": 50035})
    if seen.query.get("wait") == "true":
        return answer(200, {"id": "1", "channel_id": "2", "embeds": embeds})
    return answer(204, b"")


def config(base: str, **extra: object) -> DiscordConfig:
    parsed = RECEIVER_ADAPTER.validate_python({"type": "discord", "url": base + PATH} | extra)
    assert isinstance(parsed, DiscordConfig)
    return parsed


async def test_embed_message(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(discord)
    await build_notifier("dc", config(server.url, username="batchrelay"), session).send(
        notification
    )
    assert server.last.query == {"wait": "true"}
    body = server.last.json()
    [embed] = body["embeds"]
    assert embed["title"] == "3 tasks failed in batch batch-7f3a (video-prod)"
    assert "- **Failure ratio**: 3.0%" in embed["description"]
    assert embed["timestamp"] == "2026-11-20T03:12:30+00:00"
    assert body["allowed_mentions"] == {"parse": []} and body["username"] == "batchrelay"


async def test_description_is_truncated_to_4096(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(discord)
    await build_notifier("dc", config(server.url, max_failures=300), session).send(
        make_notification(failures=300)
    )
    description = server.last.json()["embeds"][0]["description"]
    assert len(description) <= 4096 and "… truncated:" in description


async def test_429_body_retry_after_wins(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(discord)
    server.then(
        429,
        {"message": "You are being rate limited.", "retry_after": 1.337, "global": False},
        {"Retry-After": "2"},
    )
    error = await send_error(build_notifier("dc", config(server.url), session).send(notification))
    assert (error.reason, error.retry_after, error.retryable) == (
        FailureReason.RATE_LIMITED,
        1.337,
        True,
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, FailureReason.AUTH_ERROR),
        (404, FailureReason.CLIENT_ERROR),
        (502, FailureReason.SERVER_ERROR),
    ],
)
async def test_errors(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    reason: FailureReason,
) -> None:
    server = await platform(discord)
    server.then(status, {"message": "Unknown Webhook", "code": 10015})
    error = await send_error(build_notifier("dc", config(server.url), session).send(notification))
    assert error.reason is reason


async def test_wrong_token_is_auth_and_hidden(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(discord)
    wrong = "Ab1" * 20
    cfg = config(server.url, url=f"{server.url}/api/webhooks/1234567890123456789/{wrong}")
    error = await send_error(build_notifier("dc", cfg, session).send(notification))
    assert error.reason is FailureReason.AUTH_ERROR
    assert_no_secret([wrong], error, repr(cfg))


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((5, 2.0), (30, 60.0))

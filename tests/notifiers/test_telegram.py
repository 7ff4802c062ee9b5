"""Telegram Bot API sendMessage: path with the token, HTML text, ``ok``/``error_code``
reading with ``parameters.retry_after``, and splitting past 4096 characters."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.telegram import TelegramConfig

from .support import (
    PlatformFactory,
    Seen,
    answer,
    assert_no_secret,
    failed_task,
    make_notification,
    send_error,
)

TOKEN = "7312945610:AAH8xQw3Zr-5tYvKLmN0pQrStUvWxYz12ab"
CHAT = -1001234567890


async def bot_api(seen: Seen) -> web.Response:
    if seen.path != f"/bot{TOKEN}/sendMessage":
        return answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    body = seen.json()
    if body.get("chat_id") != CHAT:
        return answer(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        )
    if body.get("parse_mode") != "HTML" or not 1 <= len(body.get("text", "")) <= 4096:
        return answer(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        )
    if "<script>" in body["text"]:
        return answer(
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"},
        )
    return answer(
        200, {"ok": True, "result": {"message_id": len(body["text"]), "chat": {"id": CHAT}}}
    )


def config(base: str, **extra: object) -> TelegramConfig:
    fields = {"type": "telegram", "bot_token": TOKEN, "chat_id": CHAT, "api_url": base}
    parsed = RECEIVER_ADAPTER.validate_python(fields | extra)
    assert isinstance(parsed, TelegramConfig)
    return parsed


async def test_html_message(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(bot_api)
    await build_notifier("tg", config(server.url, message_thread_id=7), session).send(notification)
    body = server.last.json()
    assert body["link_preview_options"] == {"is_disabled": True}
    assert body["message_thread_id"] == 7
    assert body["text"].startswith("<b>3 tasks failed in batch batch-7f3a (video-prod)</b>")
    assert "- <b>Batch</b>: <code>batch-7f3a</code>" in body["text"]


async def test_event_text_is_html_escaped(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(bot_api)
    hostile = make_notification(events=[failed_task(0, message="<script>alert(1)</script> & co")])
    await build_notifier("tg", config(server.url), session).send(hostile)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in server.last.json()["text"]


async def test_long_text_is_split_in_order(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(bot_api)
    await build_notifier("tg", config(server.url, max_failures=200, max_messages=3), session).send(
        make_notification(failures=200)
    )
    texts = [seen.json()["text"] for seen in server.seen]
    assert len(texts) == 3 and all(len(text) <= 4096 for text in texts)
    assert texts[0].startswith("<b>200 tasks failed in batch")
    shown = [int(n) for n in re.findall(r"clip_(\d{4})\.mp4</code>", "".join(texts))]
    assert shown == list(range(len(shown))) and len(shown) > 50  # in order, none lost
    assert "… truncated:" in texts[-1]


async def test_429_uses_parameters_retry_after(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(bot_api)
    server.then(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 34",
            "parameters": {"retry_after": 34},
        },
    )
    error = await send_error(build_notifier("tg", config(server.url), session).send(notification))
    assert (error.reason, error.retry_after, error.retryable) == (
        FailureReason.RATE_LIMITED,
        34.0,
        True,
    )


@pytest.mark.parametrize(
    ("status", "description", "reason"),
    [
        (403, "Forbidden: bot was kicked from the supergroup chat", FailureReason.AUTH_ERROR),
        (400, "Bad Request: chat not found", FailureReason.CLIENT_ERROR),
        (500, "Internal Server Error", FailureReason.SERVER_ERROR),
    ],
)
async def test_errors(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    description: str,
    reason: FailureReason,
) -> None:
    server = await platform(bot_api)
    server.then(status, {"ok": False, "error_code": status, "description": description})
    error = await send_error(build_notifier("tg", config(server.url), session).send(notification))
    assert error.reason is reason and description in str(error)


async def test_wrong_token_is_auth(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(bot_api)
    wrong = "111:WRONGwrongWRONGwrong"
    error = await send_error(
        build_notifier("tg", config(server.url, bot_token=wrong), session).send(notification)
    )
    assert (error.reason, error.retryable) == (FailureReason.AUTH_ERROR, False)
    assert_no_secret([wrong], error)


async def test_token_never_leaks(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    refused_port: int,
) -> None:
    async def echo(seen: Seen) -> web.Response:
        return answer(
            400, {"ok": False, "error_code": 400, "description": f"Bad Request: {seen.path}"}
        )

    server = await platform(echo)
    server.then(200, "<html>proxy error for /bot" + TOKEN + "</html>")
    with capture_logs() as logs:
        for base in (server.url, server.url, f"http://127.0.0.1:{refused_port}"):
            cfg = config(base)
            error = await send_error(build_notifier("tg", cfg, session).send(notification))
            assert_no_secret([TOKEN, TOKEN.split(":")[1]], error, repr(error), repr(cfg))
    assert_no_secret([TOKEN], logs)


async def test_timeout(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(bot_api)
    server.then(200, {"ok": True}, delay=0.5)
    error = await send_error(
        build_notifier("tg", config(server.url, timeout=0.1), session).send(notification)
    )
    assert error.reason is FailureReason.TIMEOUT


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((20, 60.0),)

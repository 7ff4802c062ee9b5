"""Lark / Feishu custom bot: body signature, interactive card, ``code`` reading."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.lark import LarkConfig

from .support import (
    TITLE,
    PlatformFactory,
    Seen,
    answer,
    assert_no_secret,
    make_notification,
    send_error,
)

HOOK = "/open-apis/bot/v2/hook/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
SECRET = "kR2xT9mQ4vN7pL1sW8yB3d"


def expected_sign(timestamp: str) -> str:
    key = f"{timestamp}\n{SECRET}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


async def lark(seen: Seen) -> web.Response:
    """The custom bot endpoint: signature in the body, interactive card, code answers."""
    if seen.method != "POST" or seen.path != HOOK:
        return answer(
            404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        )
    body = seen.json()
    stamp = body.get("timestamp", "")
    if not isinstance(stamp, str) or not stamp.isdigit() or abs(time.time() - int(stamp)) > 3600:
        return answer(
            200,
            {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
            },
        )
    if body.get("sign") != expected_sign(stamp):
        return answer(
            200,
            {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
            },
        )
    card = body.get("card") or {}
    if body.get("msg_type") != "interactive" or "header" not in card or "elements" not in card:
        return answer(400, {"code": 9499, "msg": "Bad Request", "data": {}})
    if len(seen.body) > 20 * 1024:
        return answer(400, {"code": 9499, "msg": "request body too large", "data": {}})
    return answer(200, {"code": 0, "msg": "success", "data": {}})


def config(base: str, **extra: object) -> LarkConfig:
    fields = {"type": "lark", "url": base + HOOK, "secret": SECRET, "timeout": 2} | extra
    parsed = RECEIVER_ADAPTER.validate_python(fields)
    assert isinstance(parsed, LarkConfig)
    return parsed


async def test_signed_card(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(lark)
    await build_notifier("lark", config(server.url), session).send(notification)
    card = server.last.json()["card"]
    assert card["header"] == {
        "title": {"tag": "plain_text", "content": TITLE},
        "template": "orange",  # failures in a running batch
    }
    [element] = card["elements"]
    assert element["tag"] == "markdown"
    assert "- **Failure ratio**: 3.0%" in element["content"]
    assert "###" not in element["content"]  # the header carries the title


async def test_failed_batch_is_red_and_old_style_success_is_accepted(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(lark)
    server.then(200, {"StatusCode": 0, "StatusMessage": "success"})
    failed = make_notification(batch={"batch_key": "b", "kind": "batch", "state": "failed"})
    await build_notifier("lark", config(server.url), session).send(failed)
    assert server.last.json()["card"]["header"]["template"] == "red"


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (200, 11232, FailureReason.RATE_LIMITED),
        (200, 19021, FailureReason.AUTH_ERROR),
        (200, 19022, FailureReason.AUTH_ERROR),
        (200, 19024, FailureReason.CLIENT_ERROR),
        (400, 9499, FailureReason.CLIENT_ERROR),
    ],
)
async def test_body_codes(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    code: int,
    reason: FailureReason,
) -> None:
    server = await platform(lark)
    server.then(status, {"code": code, "msg": "from lark", "data": {}})
    error = await send_error(build_notifier("l", config(server.url), session).send(notification))
    assert error.reason is reason and f"code {code}" in str(error)
    assert error.retryable is (reason is FailureReason.RATE_LIMITED)


async def test_wrong_secret_is_refused_by_the_platform(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(lark)
    error = await send_error(
        build_notifier("l", config(server.url, secret="other-secret"), session).send(notification)
    )
    assert (error.reason, error.retryable) == (FailureReason.AUTH_ERROR, False)


async def test_429_and_5xx_are_read_from_the_status(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(lark)
    server.then(
        429, {"code": 99991400, "msg": "request trigger frequency limit"}, {"Retry-After": "3"}
    )
    server.then(500, {"code": 2200, "msg": "internal error"})
    notifier = build_notifier("l", config(server.url), session)
    limited = await send_error(notifier.send(notification))
    assert (limited.reason, limited.retry_after) == (FailureReason.RATE_LIMITED, 3.0)
    assert (await send_error(notifier.send(notification))).reason is FailureReason.SERVER_ERROR


async def test_body_stays_under_20_kb(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(lark)
    await build_notifier("l", config(server.url, max_failures=500), session).send(
        make_notification(failures=500)
    )
    content = server.last.json()["card"]["elements"][0]["content"]
    assert "… truncated:" in content and len(server.last.body) <= 20 * 1024


async def test_secrets_never_leak(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    refused_port: int,
) -> None:
    async def echo(seen: Seen) -> web.Response:
        return answer(400, {"code": 9499, "msg": f"bad {seen.path} {seen.body.decode()}"})

    server = await platform(echo)
    with capture_logs() as logs:
        for base in (server.url, f"http://127.0.0.1:{refused_port}"):
            cfg = config(base)
            error = await send_error(build_notifier("l", cfg, session).send(notification))
            assert_no_secret([HOOK.rsplit("/", 1)[1], SECRET], error, repr(error), repr(cfg))
    assert_no_secret([SECRET], logs)


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((5, 1.0), (100, 60.0))

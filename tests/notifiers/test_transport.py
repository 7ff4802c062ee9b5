"""Every HTTP channel reads transport failures the same way: a server slower than the
timeout → ``timeout``; nothing listening → ``connection``; 5xx → ``server_error``; 429 with
``Retry-After`` → ``rate_limited``; all retryable, none leaking the channel's secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, build_notifier
from batchrelay.notifiers.http import json_bytes

from .support import PlatformFactory, Seen, answer, assert_no_secret, make_notification, send_error

SECRET = "s3cr3t-Tok3n-2468"

CHANNELS: dict[str, Callable[[str], dict[str, Any]]] = {
    "webhook": lambda base: {"url": f"{base}/h?token={SECRET}", "secret": "whsec_c2VjcmV0LWtleQ=="},
    "dingtalk": lambda base: {
        "url": f"{base}/robot/send?access_token={SECRET}",
        "secret": "SECabc",
    },
    "lark": lambda base: {"url": f"{base}/open-apis/bot/v2/hook/{SECRET}", "secret": "lark-key"},
    "wecom": lambda base: {"url": f"{base}/cgi-bin/webhook/send?key={SECRET}"},
    "slack": lambda base: {"url": f"{base}/services/T0/B0/{SECRET}"},
    "teams": lambda base: {"url": f"{base}/workflows/x/triggers/manual/paths/invoke?sig={SECRET}"},
    "discord": lambda base: {"url": f"{base}/api/webhooks/1/{SECRET}"},
    "telegram": lambda base: {"api_url": base, "bot_token": f"1:{SECRET}", "chat_id": 5},
    "alertmanager": lambda base: {"url": base, "bearer_token": SECRET},
}


async def ok(seen: Seen) -> web.Response:
    return answer(200, {"ok": True, "errcode": 0, "code": 0})


def build(kind: str, base: str, session: aiohttp.ClientSession, **extra: Any) -> Any:
    cfg = RECEIVER_ADAPTER.validate_python({"type": kind, **CHANNELS[kind](base), **extra})
    return build_notifier(f"{kind}-receiver", cfg, session)


@pytest.mark.parametrize("kind", CHANNELS)
async def test_slow_platform_times_out(
    platform: PlatformFactory, session: aiohttp.ClientSession, kind: str
) -> None:
    server = await platform(ok)
    server.then(200, {"ok": True}, delay=0.4)
    error = await send_error(
        build(kind, server.url, session, timeout=0.1).send(make_notification())
    )
    assert (error.reason, error.retryable) == (FailureReason.TIMEOUT, True)


@pytest.mark.parametrize("kind", CHANNELS)
async def test_nothing_listening(
    session: aiohttp.ClientSession, refused_port: int, kind: str
) -> None:
    notifier = build(kind, f"http://127.0.0.1:{refused_port}", session)
    error = await send_error(notifier.send(make_notification()))
    assert (error.reason, error.retryable) == (FailureReason.CONNECTION, True)
    assert_no_secret([SECRET], error, repr(error))


@pytest.mark.parametrize("kind", CHANNELS)
async def test_gateway_errors_and_throttling(
    platform: PlatformFactory, session: aiohttp.ClientSession, kind: str
) -> None:
    server = await platform(ok)
    server.then(503, f"upstream {SECRET} unavailable")
    server.then(429, "too many", {"Retry-After": "4"})
    notifier = build(kind, server.url, session)
    down = await send_error(notifier.send(make_notification()))
    assert (down.reason, down.retryable) == (FailureReason.SERVER_ERROR, True)
    assert_no_secret([SECRET], down, repr(down))
    limited = await send_error(notifier.send(make_notification()))
    assert (limited.reason, limited.retry_after) == (FailureReason.RATE_LIMITED, 4.0)
    await notifier.send(make_notification())  # and then it goes through


@pytest.mark.parametrize("huge", [False, True])
def test_bodies_are_compact_utf8_json_whatever_the_integers(huge: bool) -> None:
    value: dict[str, Any] = {"task": "转码 ✓", "size": 12, "ratio": 0.5, "flags": [None, True]}
    if huge:  # past 64 bits: orjson refuses it, the standard library writes it
        value["bytes"] = 10**30
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert json_bytes(value) == expected

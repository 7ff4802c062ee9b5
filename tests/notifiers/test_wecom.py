"""WeCom group robot: markdown body, ``errcode`` reading, the 4096-byte content limit."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.wecom import WeComConfig

from .support import (
    PlatformFactory,
    Seen,
    answer,
    assert_no_secret,
    failed_task,
    make_notification,
    send_error,
)

KEY = "693a91f6-7b2c-4bc4-97a0-0ec2d1fa5aaa"


async def wecom(seen: Seen) -> web.Response:
    if seen.method != "POST" or seen.path != "/cgi-bin/webhook/send":
        return answer(404, "")
    if seen.query.get("key") != KEY:
        return answer(
            200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1], from ip: 127.0.0.1"}
        )
    body = seen.json()
    if body.get("msgtype") != "markdown" or not isinstance(
        body.get("markdown", {}).get("content"), str
    ):
        return answer(200, {"errcode": 40008, "errmsg": "invalid message type"})
    if len(body["markdown"]["content"].encode()) > 4096:
        return answer(200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096."})
    return answer(200, {"errcode": 0, "errmsg": "ok"})


def config(base: str, **extra: object) -> WeComConfig:
    fields = {"type": "wecom", "url": f"{base}/cgi-bin/webhook/send?key={KEY}", "timeout": 2}
    parsed = RECEIVER_ADAPTER.validate_python(fields | extra)
    assert isinstance(parsed, WeComConfig)
    return parsed


async def test_markdown_message(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(wecom)
    await build_notifier("wc", config(server.url), session).send(notification)
    content = server.last.json()["markdown"]["content"]
    assert content.startswith("### 3 tasks failed in batch batch-7f3a (video-prod)")
    assert "- **Batch**: `batch-7f3a`" in content
    assert "`InvalidParameter.Source` × 3\n- `oss://media-in/2026/clip_0000.mp4`" in content


async def test_cjk_text_is_truncated_by_bytes(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(wecom)
    events = [
        failed_task(i, message="源文件无法解码，请检查编码格式与容器是否受支持。" * 3)
        for i in range(60)
    ]
    await build_notifier("wc", config(server.url, max_failures=60), session).send(
        make_notification(events=events)
    )
    content = server.last.json()["markdown"]["content"]
    assert len(content.encode()) <= 4096 and "… truncated:" in content


@pytest.mark.parametrize(
    ("errcode", "reason"),
    [
        (45009, FailureReason.RATE_LIMITED),
        (93000, FailureReason.AUTH_ERROR),
        (-1, FailureReason.SERVER_ERROR),
        (40058, FailureReason.CLIENT_ERROR),
    ],
)
async def test_errcodes(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    errcode: int,
    reason: FailureReason,
) -> None:
    server = await platform(wecom)
    server.then(200, {"errcode": errcode, "errmsg": "api freq out of limit"})
    error = await send_error(build_notifier("wc", config(server.url), session).send(notification))
    assert error.reason is reason


async def test_bad_key_is_auth_and_never_shown(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(wecom)
    wrong = "00000000-1111-2222-3333-444444444444"
    cfg = config(server.url, url=f"{server.url}/cgi-bin/webhook/send?key={wrong}")
    error = await send_error(build_notifier("wc", cfg, session).send(notification))
    assert error.reason is FailureReason.AUTH_ERROR and not error.retryable
    assert_no_secret([wrong], error, repr(cfg))


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((20, 60.0),)

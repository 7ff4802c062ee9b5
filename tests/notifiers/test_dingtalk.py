"""DingTalk custom robot: 加签 signature, markdown shape, errcode reading, size limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.dingtalk import DingTalkConfig, DingTalkNotifier

from .support import PlatformFactory, Seen, answer, assert_no_secret, make_notification, send_error

TOKEN = "6d1f0c3a9b8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"


def expected_sign(timestamp: str, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


async def dingtalk(seen: Seen) -> web.Response:
    """The robot endpoint as documented: token, 加签 check, markdown body, errcode answers."""
    if seen.method != "POST" or seen.path != "/robot/send":
        return answer(404, "")
    if seen.query.get("access_token") != TOKEN:
        return answer(200, {"errcode": 300001, "errmsg": "token is not exist"})
    stamp, signature = seen.query.get("timestamp", ""), seen.query.get("sign", "")
    if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3600_000:
        return answer(200, {"errcode": 310000, "errmsg": "invalid timestamp"})
    if signature != expected_sign(stamp):
        return answer(200, {"errcode": 310000, "errmsg": "sign not match"})
    body = seen.json()
    if body.get("msgtype") != "markdown" or set(body["markdown"]) != {"title", "text"}:
        return answer(200, {"errcode": 40035, "errmsg": "缺少参数 json"})
    if len(seen.body) > 20000:
        return answer(200, {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"})
    return answer(200, {"errcode": 0, "errmsg": "ok"})


def config(base: str, **extra: object) -> DingTalkConfig:
    fields = {
        "type": "dingtalk",
        "url": f"{base}/robot/send?access_token={TOKEN}",
        "secret": SECRET,
        "timeout": 2,
    } | extra
    parsed = RECEIVER_ADAPTER.validate_python(fields)
    assert isinstance(parsed, DingTalkConfig)
    return parsed


async def test_signed_markdown_message(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(dingtalk)
    cfg = config(server.url, at_mobiles=["13800000000"])
    await build_notifier("ding", cfg, session).send(notification)

    body = server.last.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "3 tasks failed in batch batch-7f3a (video-prod)"
    text = body["markdown"]["text"]
    assert text.startswith("### 3 tasks failed in batch batch-7f3a (video-prod)")
    assert "- **Batch**: batch-7f3a" in text
    assert "SubmitSuccess 1180 · SubmitFailure 37 · SkipFiles 3" in text
    assert "- **Failure ratio**: 3.0%" in text
    assert "InvalidParameter.Source × 3\n- oss://media-in/2026/clip\\_0000.mp4" in text
    assert body["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert server.last.headers["Content-Type"].startswith("application/json")


def test_signature_is_percent_encoded_in_the_query() -> None:
    notifier = DingTalkNotifier("d", config("http://127.0.0.1:9"), None)  # type: ignore[arg-type]
    url = notifier._signed_url()
    raw = parse_qs(url.raw_query_string, keep_blank_values=True)
    assert raw["access_token"] == [TOKEN]
    stamp = raw["timestamp"][0]
    # parse_qs turns "+" into a space: an unencoded base64 "+" would not survive.
    assert raw["sign"] == [expected_sign(stamp)]
    assert "+" not in url.raw_query_string and "/" not in url.raw_query_string.split("sign=")[1]


async def test_unsigned_robot(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    async def keyword_robot(seen: Seen) -> web.Response:
        assert "sign" not in seen.query and "timestamp" not in seen.query
        return answer(200, {"errcode": 0, "errmsg": "ok"})

    server = await platform(keyword_robot)
    await build_notifier("d", config(server.url, secret=None), session).send(notification)
    assert len(server.seen) == 1


async def test_wrong_secret_is_an_auth_error(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(dingtalk)
    notifier = build_notifier("d", config(server.url, secret="SECwrong0000000000"), session)
    error = await send_error(notifier.send(notification))
    assert (error.reason, error.retryable) == (FailureReason.AUTH_ERROR, False)
    assert "310000" in str(error) and "sign not match" in str(error)


async def test_unknown_token_is_an_auth_error(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(dingtalk)
    url = f"{server.url}/robot/send?access_token=0000000000"
    error = await send_error(
        build_notifier("d", config(server.url, url=url), session).send(notification)
    )
    assert error.reason is FailureReason.AUTH_ERROR and "300001" in str(error)


@pytest.mark.parametrize(
    ("errcode", "errmsg", "reason", "retry_after"),
    [
        (410100, "send too fast", FailureReason.RATE_LIMITED, 600.0),
        (130101, "send too fast, exceed 20 times per minute", FailureReason.RATE_LIMITED, 600.0),
        (90030, "webhook over limit", FailureReason.RATE_LIMITED, None),
        (400102, "robot stopped", FailureReason.AUTH_ERROR, None),
        (-1, "system busy", FailureReason.SERVER_ERROR, None),
        (460101, "message too long, exceed 20000 bytes", FailureReason.CLIENT_ERROR, None),
        (430104, "contains inappropriate content", FailureReason.CLIENT_ERROR, None),
    ],
)
async def test_body_error_codes(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    errcode: int,
    errmsg: str,
    reason: FailureReason,
    retry_after: float | None,
) -> None:
    server = await platform(dingtalk)
    server.then(200, {"errcode": errcode, "errmsg": errmsg})
    error = await send_error(build_notifier("d", config(server.url), session).send(notification))
    assert (error.reason, error.retry_after) == (reason, retry_after)
    assert error.retryable is (reason in (FailureReason.RATE_LIMITED, FailureReason.SERVER_ERROR))
    assert f"code {errcode}: {errmsg}" in str(error)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (502, "<html>bad gateway</html>", FailureReason.SERVER_ERROR),
        (200, "<html>maintenance</html>", FailureReason.SERVER_ERROR),
        (429, {"errcode": 0}, FailureReason.RATE_LIMITED),
        (403, "forbidden", FailureReason.AUTH_ERROR),
    ],
)
async def test_non_platform_answers(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    body: str | dict[str, int],
    reason: FailureReason,
) -> None:
    server = await platform(dingtalk)
    server.then(status, body)
    error = await send_error(build_notifier("d", config(server.url), session).send(notification))
    assert error.reason is reason


async def test_long_text_is_truncated_under_the_limit(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(dingtalk)
    many = make_notification(failures=400)
    await build_notifier("d", config(server.url, max_failures=400), session).send(many)
    text = server.last.json()["markdown"]["text"]
    assert len(text.encode()) <= 18_000
    assert text.rstrip().splitlines()[-1].startswith("… truncated:")
    assert len(server.last.body) <= 20_000


async def test_timeout_and_refused(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    refused_port: int,
) -> None:
    server = await platform(dingtalk)
    server.then(200, {"errcode": 0}, delay=0.5)
    slow = build_notifier("d", config(server.url, timeout=0.1), session)
    assert (await send_error(slow.send(notification))).reason is FailureReason.TIMEOUT
    gone = build_notifier("d", config(f"http://127.0.0.1:{refused_port}"), session)
    assert (await send_error(gone.send(notification))).reason is FailureReason.CONNECTION


async def test_secrets_never_leak(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    refused_port: int,
) -> None:
    async def echo(seen: Seen) -> web.Response:
        return answer(200, {"errcode": 310000, "errmsg": f"sign not match: {seen.query}"})

    server = await platform(echo)
    with capture_logs() as logs:
        for base in (server.url, f"http://127.0.0.1:{refused_port}"):
            cfg = config(base)
            error = await send_error(build_notifier("d", cfg, session).send(notification))
            assert_no_secret([TOKEN, SECRET], error, repr(error), cfg, repr(cfg))
    assert_no_secret([TOKEN, SECRET], logs)


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((20, 60.0),)

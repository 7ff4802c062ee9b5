"""Generic webhook: default body, templated bodies, Standard Webhooks signatures, and the
shared HTTP failure rules (429/Retry-After, 5xx, 4xx, timeouts, refused connections)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError
from structlog.testing import capture_logs

from batchrelay.errors import PermanentError, RetryableError
from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.webhook import WebhookConfig, WebhookNotifier

from .support import PlatformFactory, Seen, answer, assert_no_secret, make_notification, send_error

KEY = b"batchrelay-test-signing-key-32by"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
TOKEN = "tok-9f8e7d6c5b4a"


def verify_standard_webhook(seen: Seen, key: bytes, tolerance: float = 300) -> str | None:
    """What a Standard Webhooks receiver checks; returns the problem, or None."""
    msg_id = seen.headers.get("webhook-id")
    stamp = seen.headers.get("webhook-timestamp")
    header = seen.headers.get("webhook-signature")
    if not (msg_id and stamp and header):
        return "missing webhook-* headers"
    if abs(time.time() - int(stamp)) > tolerance:
        return "stale timestamp"
    signed = f"{msg_id}.{stamp}.".encode() + seen.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [part.split(",", 1)[1] for part in header.split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, sig) for sig in offered):
        return "bad signature"
    return None


async def receiver(seen: Seen) -> web.Response:
    """A receiving endpoint that requires the bearer token and a valid signature."""
    if seen.method != "POST" or seen.path != "/hooks/batchrelay":
        return answer(404, "not found")
    if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
        return answer(401, "unauthorized")
    if not seen.headers.get("Content-Type", "").startswith("application/json"):
        return answer(415, "json only")
    problem = verify_standard_webhook(seen, KEY)
    return answer(400, problem) if problem else answer(204, b"")


def config(base: str, **extra: object) -> WebhookConfig:
    fields = {
        "type": "webhook",
        "url": f"{base}/hooks/batchrelay",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "secret": SECRET,
        "timeout": 2,
    } | extra
    parsed = RECEIVER_ADAPTER.validate_python(fields)
    assert isinstance(parsed, WebhookConfig)
    return parsed


async def test_default_body_is_signed_and_accepted(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    notifier = build_notifier("ops-hook", config(server.url), session)
    assert (notifier.name, notifier.kind) == ("ops-hook", "webhook")

    await notifier.send(notification)

    seen = server.last
    assert seen.headers["webhook-id"] == notification.id
    body = seen.json()
    assert set(body) == {"notification", "events", "batch"}
    assert body["notification"] == {
        "id": notification.id,
        "receiver": "ops",
        "route": "/imm/failures",
        "group_key": notification.group_key,
        "digest": False,
        "omitted": 0,
        "created_at": "2026-11-20T03:12:30Z",
    }
    assert body["events"] == notification.events
    assert body["batch"]["statistic"]["submit_failure"] == 37


async def test_a_retry_repeats_the_webhook_id(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    server.then(503, "busy")
    notifier = build_notifier("ops-hook", config(server.url), session)

    error = await send_error(notifier.send(notification))
    assert error.reason is FailureReason.SERVER_ERROR and error.retryable
    await notifier.send(notification)

    first, second = server.seen
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == notification.id
    assert verify_standard_webhook(first, KEY) is None


async def test_a_tampered_body_fails_verification(notification: Notification) -> None:
    notifier = WebhookNotifier("h", config("http://127.0.0.1:1"), aiohttp.ClientSession())
    try:
        body = notifier.body(notification)
        headers = notifier.signing_headers(notification.id, body)
        good = Seen("POST", "/", {}, headers, body)
        bad = Seen("POST", "/", {}, headers, body.replace(b"video-prod", b"video-test"))
        assert verify_standard_webhook(good, KEY) is None
        assert verify_standard_webhook(bad, KEY) == "bad signature"
    finally:
        await notifier._session.close()


async def test_without_secret_an_id_but_no_signature(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(lambda seen: _ok())
    await build_notifier("h", config(server.url, secret=None), session).send(notification)
    headers = {name.lower(): value for name, value in server.last.headers.items()}
    assert headers["webhook-id"] == notification.id  # receivers dedup on it, signed or not
    assert "webhook-signature" not in headers


async def _ok() -> web.Response:
    return answer(200, "ok")


async def test_templated_body(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    template = (
        '{"text": {{ s.title | tojson }}, "failed": {{ s.failures | length }}, '
        '"ratio": {{ s.failure_ratio | round(4) }}, "digest": {{ digest | tojson }}}'
    )
    await build_notifier("h", config(server.url, template=template), session).send(notification)
    assert server.last.json() == {
        "text": "3 tasks failed in batch batch-7f3a (video-prod)",
        "failed": 3,
        "ratio": 0.0304,
        "digest": False,
    }
    assert verify_standard_webhook(server.last, KEY) is None


async def test_template_that_is_not_json_is_a_template_failure(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    notifier = build_notifier("h", config(server.url, template="text: {{ s.title }}"), session)
    error = await send_error(notifier.send(notification))
    assert error.reason is FailureReason.TEMPLATE and not error.retryable
    assert isinstance(error, PermanentError)
    assert "receivers.h.template" in str(error) and "not JSON" in str(error)
    assert server.seen == []


async def test_runtime_template_error_is_permanent(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    notifier = build_notifier("h", config(server.url, template="{{ batch.nope.deeper }}"), session)
    error = await send_error(notifier.send(notification))
    assert error.reason is FailureReason.TEMPLATE and "UndefinedError" in str(error)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("0.5", 0.5), (None, None)],
)
async def test_429_honours_retry_after_seconds(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    retry_after: str | None,
    expected: float | None,
) -> None:
    server = await platform(receiver)
    server.then(429, "slow down", {"Retry-After": retry_after} if retry_after else {})
    error = await send_error(build_notifier("h", config(server.url), session).send(notification))
    assert error.reason is FailureReason.RATE_LIMITED
    assert isinstance(error, RetryableError) and error.retryable
    assert error.retry_after == expected == error.delay


async def test_429_honours_retry_after_http_date(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    when = datetime.now(UTC) + timedelta(seconds=120)
    server.then(429, "", {"Retry-After": format_datetime(when, usegmt=True)})
    error = await send_error(build_notifier("h", config(server.url), session).send(notification))
    assert error.retry_after is not None and 115 <= error.retry_after <= 121


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (500, FailureReason.SERVER_ERROR, True),
        (502, FailureReason.SERVER_ERROR, True),
        (408, FailureReason.SERVER_ERROR, True),
        (400, FailureReason.CLIENT_ERROR, False),
        (404, FailureReason.CLIENT_ERROR, False),
        (410, FailureReason.CLIENT_ERROR, False),
        (413, FailureReason.CLIENT_ERROR, False),
        (401, FailureReason.AUTH_ERROR, False),
        (403, FailureReason.AUTH_ERROR, False),
        (302, FailureReason.CLIENT_ERROR, False),
    ],
)
async def test_statuses(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    reason: FailureReason,
    retryable: bool,
) -> None:
    server = await platform(receiver)
    headers = {"Location": f"{server.url}/elsewhere"} if status == 302 else {}
    server.then(status, "nope", headers)
    error = await send_error(build_notifier("h", config(server.url), session).send(notification))
    assert (error.reason, error.retryable) == (reason, retryable)
    assert f"HTTP {status}" in str(error)
    assert len(server.seen) == 1  # redirects are not followed


async def test_real_auth_failure_from_the_receiver(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    notifier = build_notifier("h", config(server.url, headers={}), session)
    error = await send_error(notifier.send(notification))
    assert error.reason is FailureReason.AUTH_ERROR and not error.retryable


async def test_timeout(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(receiver)
    server.then(204, b"", delay=0.5)
    notifier = build_notifier("h", config(server.url, timeout=0.1), session)
    started = time.monotonic()
    error = await send_error(notifier.send(notification))
    assert time.monotonic() - started < 0.4
    assert (error.reason, error.retryable) == (FailureReason.TIMEOUT, True)


async def test_connection_refused(
    session: aiohttp.ClientSession, notification: Notification, refused_port: int
) -> None:
    notifier = build_notifier("h", config(f"http://127.0.0.1:{refused_port}"), session)
    error = await send_error(notifier.send(notification))
    assert (error.reason, error.retryable) == (FailureReason.CONNECTION, True)


async def test_secrets_never_reach_errors_or_logs(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    refused_port: int,
) -> None:
    url_token = "urltoken-5e6f7a8b"

    async def echo(seen: Seen) -> web.Response:  # a hostile endpoint echoing what it got
        return answer(400, f"bad request to {seen.path}?{seen.query} with {seen.headers}")

    server = await platform(echo)
    secrets = [url_token, TOKEN, SECRET]
    with capture_logs() as logs:
        for base in (server.url, f"http://127.0.0.1:{refused_port}"):
            cfg = config(base, url=f"{base}/hooks/{url_token}?key={url_token}")
            notifier = build_notifier("h", cfg, session)
            error = await send_error(notifier.send(make_notification()))
            assert_no_secret(secrets, error, repr(error), error.detail, cfg, repr(cfg))
    assert_no_secret(secrets, logs)


def test_config_rules() -> None:
    with pytest.raises(ValidationError, match="whsec_"):
        config("http://x", secret="not-a-whsec")
    with pytest.raises(ValidationError, match="not base64"):
        config("http://x", secret="whsec_***")
    with pytest.raises(ValidationError, match="webhook-id"):
        config("http://x", headers={"webhook-id": "mine"})
    with pytest.raises(ValidationError, match="http"):
        config("ftp://x")
    with pytest.raises(ValidationError, match="extra"):
        config("http://x", colour="red")
    with pytest.raises(ValidationError, match="syntax error at line 1"):
        config("http://x", template="{% for %}")
    assert config("http://x").rate_limits == ()

"""Slack incoming webhook: Block Kit shape, sections under 3000 characters, and Slack's
status-plus-text error answers."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.slack import SlackConfig

from .support import (
    TITLE,
    PlatformFactory,
    Seen,
    answer,
    assert_no_secret,
    failed_task,
    make_notification,
    send_error,
)

PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


async def slack(seen: Seen) -> web.Response:
    if seen.path != PATH:
        return answer(404, "no_service")
    try:
        body = seen.json()
    except ValueError:
        return answer(400, "invalid_payload")
    blocks = body.get("blocks", [])
    if not isinstance(body.get("text"), str) or len(blocks) > 50:
        return answer(400, "invalid_blocks")
    for block in blocks:
        text = block.get("text", {}).get("text", "")
        if block["type"] == "section" and len(text) > 3000:
            return answer(400, "invalid_blocks")
        if block["type"] == "header" and (len(text) > 150 or block["text"]["type"] != "plain_text"):
            return answer(400, "invalid_blocks")
    return answer(200, "ok")


def config(base: str, **extra: object) -> SlackConfig:
    parsed = RECEIVER_ADAPTER.validate_python({"type": "slack", "url": base + PATH} | extra)
    assert isinstance(parsed, SlackConfig)
    return parsed


async def test_block_kit_message(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(slack)
    await build_notifier("sl", config(server.url), session).send(notification)
    body = server.last.json()
    header, section, context = body["blocks"]
    assert body["text"] == header["text"]["text"] == TITLE
    assert section["text"]["type"] == "mrkdwn"
    assert "- *Failure ratio*: 3.0%" in section["text"]["text"]
    text = section["text"]["text"]
    assert "`InvalidParameter.Source` × 3\n- `oss://media-in/2026/clip_0000.mp4`" in text
    assert context["elements"][0]["text"].endswith(notification.id)


async def test_mrkdwn_control_characters_are_escaped(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(slack)
    hostile = make_notification(
        events=[failed_task(0, message="<!channel> & <https://evil|click>")]
    )
    await build_notifier("sl", config(server.url), session).send(hostile)
    text = server.last.json()["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in text and "<!channel>" not in text


async def test_long_text_is_split_into_sections(
    platform: PlatformFactory, session: aiohttp.ClientSession
) -> None:
    server = await platform(slack)
    await build_notifier("sl", config(server.url, max_failures=200, max_sections=4), session).send(
        make_notification(failures=200)
    )
    sections = [b for b in server.last.json()["blocks"] if b["type"] == "section"]
    assert len(sections) == 4
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert "… truncated:" in sections[-1]["text"]["text"]


@pytest.mark.parametrize(
    ("status", "text", "reason"),
    [
        (400, "invalid_payload", FailureReason.CLIENT_ERROR),
        (400, "user_not_found", FailureReason.CLIENT_ERROR),
        (403, "action_prohibited", FailureReason.AUTH_ERROR),
        (404, "channel_not_found", FailureReason.CLIENT_ERROR),
        (404, "no_service", FailureReason.CLIENT_ERROR),
        (410, "channel_is_archived", FailureReason.CLIENT_ERROR),
        (500, "rollup_error", FailureReason.SERVER_ERROR),
    ],
)
async def test_slack_errors(
    platform: PlatformFactory,
    session: aiohttp.ClientSession,
    notification: Notification,
    status: int,
    text: str,
    reason: FailureReason,
) -> None:
    server = await platform(slack)
    server.then(status, text)
    error = await send_error(build_notifier("sl", config(server.url), session).send(notification))
    assert error.reason is reason and text in str(error)


async def test_rate_limited_with_retry_after(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    server = await platform(slack)
    server.then(429, "rate_limited", {"Retry-After": "30"})
    error = await send_error(build_notifier("sl", config(server.url), session).send(notification))
    assert (error.reason, error.retry_after, error.retryable) == (
        FailureReason.RATE_LIMITED,
        30.0,
        True,
    )


async def test_url_never_leaks(
    platform: PlatformFactory, session: aiohttp.ClientSession, notification: Notification
) -> None:
    async def echo(seen: Seen) -> web.Response:
        return answer(404, f"no_service for {seen.path}")

    server = await platform(echo)
    cfg = config(server.url)
    error = await send_error(build_notifier("sl", cfg, session).send(notification))
    assert_no_secret(["XXXXXXXXXXXXXXXXXXXXXXXX", PATH], error, repr(cfg))


def test_default_budget() -> None:
    assert config("http://x").rate_limits == ((1, 1.0),)

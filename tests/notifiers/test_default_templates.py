"""Every default template, for every channel and dialect, renders every kind of message.

A default is what a user gets without configuring anything, so no template error may
reach them: each (template, dialect) pair and each channel's notifier renders events,
coalesced digests, alert firing / repeat / resolved notices, completion digests, and
messages long enough to be truncated or split.
"""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import nodes

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.config import RECEIVER_ADAPTER
from batchrelay.notifiers.registry import build_notifier
from batchrelay.notifiers.smtp import EmailNotifier
from batchrelay.notifiers.templates import (
    DIALECTS,
    ENVIRONMENT,
    default_source,
    template_or_default,
)
from batchrelay.preview.messages import RecordingSession
from tests.notifiers.messages import every_message

MESSAGES = every_message()
TEMPLATES = [("chat", dialect) for dialect in DIALECTS] + [("email.html", "html")]

#: One receiver of every type whose message comes from a default template.
CHANNELS: dict[str, dict[str, Any]] = {
    "dingtalk": {
        "url": "https://oapi.dingtalk.com/robot/send?access_token=t0k3n",
        "secret": "SECabc",
    },
    "lark": {"url": "https://open.feishu.cn/open-apis/bot/v2/hook/h00k", "secret": "s3cret"},
    "wecom": {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k3y"},
    "slack": {"url": "https://hooks.slack.com/services/T0/B0/x1"},
    "teams": {"url": "https://example.webhook.office.com/workflows/w1"},
    "discord": {"url": "https://discord.com/api/webhooks/1/t0k3n"},
    "telegram": {"bot_token": "123:abc", "chat_id": -1001234567890},
    "alertmanager": {"url": "http://alertmanager.example:9093"},
    "email": {"host": "smtp.example.com", "sender": "relay@example.com", "to": ["ops@example.com"]},
}


@pytest.mark.parametrize("message", MESSAGES, ids=list(MESSAGES))
@pytest.mark.parametrize(("name", "dialect"), TEMPLATES, ids=[f"{n}-{d}" for n, d in TEMPLATES])
def test_default_template_renders(name: str, dialect: str, message: str) -> None:
    template = template_or_default(None, name, "x")
    for show_title in (True, False):
        text = template.render(MESSAGES[message], dialect=dialect, show_title=show_title,
                               max_failures=10)  # fmt: skip
        assert text.strip()


@pytest.mark.parametrize("message", MESSAGES, ids=list(MESSAGES))
@pytest.mark.parametrize("kind", CHANNELS)
async def test_every_channel_sends_every_message(kind: str, message: str) -> None:
    config = RECEIVER_ADAPTER.validate_python({"type": kind, **CHANNELS[kind]})
    session = RecordingSession()
    notifier = build_notifier("ops", config, session)  # type: ignore[arg-type]
    notification: Notification = MESSAGES[message]
    if isinstance(notifier, EmailNotifier):  # built, not sent: SMTP has its own tests
        email = notifier.message(notification)
        assert email["Subject"] and email.get_body(("html",)) is not None
        return
    await notifier.send(notification)
    assert session.requests


@pytest.mark.parametrize("name", sorted({name for name, _ in TEMPLATES}))
def test_default_templates_name_only_available_filters(name: str) -> None:
    """Jinja reports an unknown filter inside ``{% if %}`` only when that branch runs, so
    the names are checked in the syntax tree as well."""
    tree = ENVIRONMENT.parse(default_source(name))
    filters = {node.name for node in tree.find_all(nodes.Filter)}
    tests = {node.name for node in tree.find_all(nodes.Test)}
    assert filters - set(ENVIRONMENT.filters) == set()
    assert tests - set(ENVIRONMENT.tests) == set()

"""Every receiver type's notifier: :func:`build_notifier`. Adding a channel: its config
model and one line in ``ReceiverConfig`` (``notifiers/config.py``), its module (the
notifier), one line in ``_NOTIFIERS``, tests in ``tests/notifiers/``.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from batchrelay.notifiers.alertmanager import AlertmanagerNotifier
from batchrelay.notifiers.base import Notifier
from batchrelay.notifiers.config import (
    AlertmanagerConfig,
    DingTalkConfig,
    DiscordConfig,
    EmailConfig,
    LarkConfig,
    LogReceiverConfig,
    MnsTopicConfig,
    NullConfig,
    ReceiverConfig,
    SlackConfig,
    TeamsConfig,
    TelegramConfig,
    WebhookConfig,
    WeComConfig,
)
from batchrelay.notifiers.dingtalk import DingTalkNotifier
from batchrelay.notifiers.discord import DiscordNotifier
from batchrelay.notifiers.lark import LarkNotifier
from batchrelay.notifiers.log import LogNotifier
from batchrelay.notifiers.mns_topic import MnsTopicNotifier
from batchrelay.notifiers.null import NullNotifier
from batchrelay.notifiers.slack import SlackNotifier
from batchrelay.notifiers.smtp import EmailNotifier
from batchrelay.notifiers.teams import TeamsNotifier
from batchrelay.notifiers.telegram import TelegramNotifier
from batchrelay.notifiers.webhook import WebhookNotifier
from batchrelay.notifiers.wecom import WeComNotifier

_NOTIFIERS: dict[type[Any], type[Any]] = {
    WebhookConfig: WebhookNotifier,
    DingTalkConfig: DingTalkNotifier,
    LarkConfig: LarkNotifier,
    WeComConfig: WeComNotifier,
    SlackConfig: SlackNotifier,
    TeamsConfig: TeamsNotifier,
    DiscordConfig: DiscordNotifier,
    TelegramConfig: TelegramNotifier,
    EmailConfig: EmailNotifier,
    AlertmanagerConfig: AlertmanagerNotifier,
    MnsTopicConfig: MnsTopicNotifier,
    LogReceiverConfig: LogNotifier,
    NullConfig: NullNotifier,
}


def build_notifier(name: str, config: ReceiverConfig, session: aiohttp.ClientSession) -> Notifier:
    """The notifier for receiver ``name``. Templates are compiled here: a syntax error is
    a ``ConfigError`` naming ``receivers.{name}.template``. The session stays the caller's
    (``close`` does not close it); SMTP and MNS receivers do not use it."""
    notifier: Notifier = _NOTIFIERS[type(config)](name, config, session)
    return notifier

"""Every receiver type: the ``ReceiverConfig`` union (discriminated by ``type``) and
:func:`build_notifier`. Adding a channel: its module (config model + notifier), one line
in ``ReceiverConfig`` and one in ``_NOTIFIERS``, tests in ``tests/notifiers/``.
"""

from __future__ import annotations

from typing import Annotated, Any

import aiohttp
from pydantic import Field, TypeAdapter

from batchrelay.notifiers.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from batchrelay.notifiers.base import Notifier
from batchrelay.notifiers.dingtalk import DingTalkConfig, DingTalkNotifier
from batchrelay.notifiers.discord import DiscordConfig, DiscordNotifier
from batchrelay.notifiers.lark import LarkConfig, LarkNotifier
from batchrelay.notifiers.log import LogNotifier, LogReceiverConfig
from batchrelay.notifiers.mns_topic import MnsTopicConfig, MnsTopicNotifier
from batchrelay.notifiers.null import NullConfig, NullNotifier
from batchrelay.notifiers.slack import SlackConfig, SlackNotifier
from batchrelay.notifiers.smtp import EmailConfig, EmailNotifier
from batchrelay.notifiers.teams import TeamsConfig, TeamsNotifier
from batchrelay.notifiers.telegram import TelegramConfig, TelegramNotifier
from batchrelay.notifiers.webhook import WebhookConfig, WebhookNotifier
from batchrelay.notifiers.wecom import WeComConfig, WeComNotifier

ReceiverConfig = Annotated[
    WebhookConfig
    | DingTalkConfig
    | LarkConfig
    | WeComConfig
    | SlackConfig
    | TeamsConfig
    | DiscordConfig
    | TelegramConfig
    | EmailConfig
    | AlertmanagerConfig
    | MnsTopicConfig
    | LogReceiverConfig
    | NullConfig,
    Field(discriminator="type"),
]
RECEIVER_ADAPTER: TypeAdapter[ReceiverConfig] = TypeAdapter(ReceiverConfig)

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

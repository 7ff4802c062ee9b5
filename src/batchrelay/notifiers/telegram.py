"""Telegram Bot API ``sendMessage``: an HTML-formatted message to one chat.

Request: ``POST {api_url}/bot{token}/sendMessage`` with ``{"chat_id", "text",
"parse_mode": "HTML", "link_preview_options": {"is_disabled": true}}`` (plus
``message_thread_id`` for forum topics). The token is in the path, so it is scrubbed from
every error.

Every answer is ``{"ok": bool, ...}``; a failure adds ``error_code`` (the HTTP status),
``description`` and sometimes ``parameters.retry_after`` (seconds). Reading: ``ok`` true →
delivered; 429 → ``rate_limited`` with ``retry_after``; 401 (bad token) and 403 (bot
blocked, kicked, or not a member) → ``auth_error``; other 4xx (400 chat not found, can't
parse entities, …) → ``client_error``; 5xx → ``server_error``.

Limits: text of 1–4096 characters after entity parsing; a bot may send about 20 messages a
minute to one group. Longer text is split on line boundaries into up to ``max_messages``
messages sent in order, the last truncated with a marker if it still does not fit. A retry
after a part failed sends every part again. Dialect ``html`` (only ``<>&`` need escaping).
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

from batchrelay.notifiers.base import FailureReason, Notification
from batchrelay.notifiers.common import ChatNotifier, json_object
from batchrelay.notifiers.config import TelegramConfig
from batchrelay.notifiers.http import Reply
from batchrelay.notifiers.text import split_chars

MAX_CHARS = 4096


class TelegramNotifier(ChatNotifier):
    kind = "telegram"
    dialect = "html"

    def __init__(self, name: str, config: TelegramConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.telegram = config
        self._url = f"{config.api_url}/bot{config.bot_token.get_secret_value()}/sendMessage"

    def secrets(self) -> Iterable[str]:
        token = self.telegram.bot_token.get_secret_value()
        # "<bot id>:<key>": the key alone is the secret part, so it is scrubbed on its own.
        return (self._url, token, token.partition(":")[2])

    async def send(self, notification: Notification) -> None:
        _, text = self.render(notification)
        for part in split_chars(text, MAX_CHARS, self.telegram.max_messages):
            self._check(await self._post(self._url, self._message(part)))

    def _message(self, text: str) -> dict[str, object]:
        message: dict[str, object] = {
            "chat_id": self.telegram.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
            "disable_notification": self.telegram.disable_notification,
        }
        if self.telegram.message_thread_id is not None:
            message["message_thread_id"] = self.telegram.message_thread_id
        return message

    def _check(self, reply: Reply) -> None:
        answer = json_object(reply.body)
        if answer is None or "ok" not in answer:
            self._raise_for_status(reply)
            raise self._error(FailureReason.SERVER_ERROR, "the answer is not a Bot API object")
        if answer["ok"] is True:
            return
        code = answer.get("error_code")
        status = code if isinstance(code, int) else reply.status
        description = str(answer.get("description", ""))
        parameters = answer.get("parameters")
        wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise self._error(_reason(status), f"error_code {status}: {description}", _seconds(wait))


def _reason(status: int) -> FailureReason:
    if status == 429:
        return FailureReason.RATE_LIMITED
    if status in (401, 403):
        return FailureReason.AUTH_ERROR
    if status >= 500:
        return FailureReason.SERVER_ERROR
    return FailureReason.CLIENT_ERROR


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

"""Lark / Feishu custom bot (自定义机器人): an interactive card to one group.

Request: ``POST https://open.feishu.cn/open-apis/bot/v2/hook/{token}`` (or the
larksuite.com host) with ``{"msg_type": "interactive", "card": {header, elements}}``. With
signature verification (签名校验) on, the body also carries ``timestamp`` (seconds, as a
string) and ``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))``: the
timestamp-and-secret string is the *key* and the message is empty, unlike DingTalk.

Success is read from the body: ``{"code": 0, "msg": "success"}`` (older deployments answer
``{"StatusCode": 0}``). Codes: 11232 (frequency control) → ``rate_limited``; 19021 (sign
match fail or timestamp out of the one-hour window) and 19022 (IP not allowed) →
``auth_error``; anything else (9499 bad request, 19024 keyword missing, …) →
``client_error``.

Limits: 100 messages a minute and 5 a second per bot; a request body of at most 20 KB, so
the card text is truncated, with a marker, to :data:`MAX_BYTES`. Dialect
``markdown_nocode``; the title is the card header, not repeated in the text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

from batchrelay.notifiers.base import FailureReason, Notification
from batchrelay.notifiers.common import ChatNotifier, tone
from batchrelay.notifiers.config import LarkConfig
from batchrelay.notifiers.text import fit_bytes

REASONS: dict[int, FailureReason] = {
    11232: FailureReason.RATE_LIMITED,
    19021: FailureReason.AUTH_ERROR,
    19022: FailureReason.AUTH_ERROR,
}
HEADER_COLOURS = {"bad": "red", "warning": "orange", "good": "green", "neutral": "blue"}


def sign(secret: str, timestamp: int) -> str:
    """The Lark signature: HMAC-SHA256 keyed by "timestamp\\nsecret" over an empty message."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class LarkNotifier(ChatNotifier):
    kind = "lark"
    dialect = "markdown_nocode"
    show_title = False

    def __init__(self, name: str, config: LarkConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.lark = config

    def secrets(self) -> Iterable[str]:
        yield from super().secrets()
        if self.lark.secret is not None:
            yield self.lark.secret.get_secret_value()

    async def send(self, notification: Notification) -> None:
        title, text = self.render(notification)
        body: dict[str, Any] = {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": title},
                    "template": HEADER_COLOURS[tone(notification)],
                },
                "elements": [{"tag": "markdown", "content": fit_bytes(text, self.lark.max_bytes)}],
            },
        }
        if self.lark.secret is not None:
            now = int(time.time())
            body |= {"timestamp": str(now), "sign": sign(self.lark.secret.get_secret_value(), now)}
        reply = await self._post(self.lark.url.get_secret_value(), body)
        self._check_coded(reply, ("code", "StatusCode"), ("msg", "StatusMessage"), REASONS)

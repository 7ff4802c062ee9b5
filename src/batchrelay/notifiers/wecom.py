"""WeCom (企业微信) group robot: a ``markdown`` message to one group.

Request: ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}`` with
``{"msgtype": "markdown", "markdown": {"content": text}}``; the key in the URL is the only
credential (no signing).

Success is read from the body: ``{"errcode": 0, "errmsg": "ok"}``. Codes: 45009 (api freq
out of limit) → ``rate_limited``; 93000 (invalid webhook url) → ``auth_error``; -1
(system busy) → ``server_error``; anything else (40058 content too long or invalid, …) →
``client_error``.

Limits: 20 messages a minute per robot; ``markdown.content`` of at most 4096 bytes (UTF-8),
so the text is truncated with a marker; splitting would spend the small budget. Dialect
``markdown`` (WeCom renders inline code spans).
"""

from __future__ import annotations

import aiohttp

from batchrelay.notifiers.base import FailureReason, Notification
from batchrelay.notifiers.common import ChatNotifier
from batchrelay.notifiers.config import WeComConfig
from batchrelay.notifiers.text import fit_bytes

REASONS: dict[int, FailureReason] = {
    45009: FailureReason.RATE_LIMITED,
    93000: FailureReason.AUTH_ERROR,
    -1: FailureReason.SERVER_ERROR,
}


class WeComNotifier(ChatNotifier):
    kind = "wecom"
    dialect = "markdown"

    def __init__(self, name: str, config: WeComConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.wecom = config

    async def send(self, notification: Notification) -> None:
        _, text = self.render(notification)
        content = fit_bytes(text, self.wecom.max_bytes)
        body = {"msgtype": "markdown", "markdown": {"content": content}}
        reply = await self._post(self.wecom.url.get_secret_value(), body)
        self._check_coded(reply, ("errcode",), ("errmsg",), REASONS)

"""DingTalk custom robot (自定义机器人): a ``markdown`` message to one group.

Request: ``POST {url}&timestamp={ms}&sign={sign}`` where ``url`` is the robot's
``https://oapi.dingtalk.com/robot/send?access_token=…`` and, when the robot uses 加签,
``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``;
body ``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {...}}``.

Success is read from the body: ``{"errcode": 0, "errmsg": "ok"}``. Codes:
130101 and 410100 (sent too fast; the robot is then throttled for 10 minutes) and 90030
(webhook call quota used up) → ``rate_limited``; 310000 (signature, timestamp, keyword or
IP security check failed), 300001 and 400101 (no such token), 400102 (robot disabled),
400106 (no such robot) → ``auth_error``; -1 (system busy) → ``server_error``; anything
else (460101 message too long, …) → ``client_error``.

Limits: 20 messages a minute per robot. The text is truncated, with a marker, to
:data:`MAX_BYTES`: the budget is too small to split one notification into several.
Dialect ``markdown_nocode``: DingTalk's Markdown has no code spans.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from urllib.parse import quote

import aiohttp
from yarl import URL

from batchrelay.notifiers.base import FailureReason, Notification
from batchrelay.notifiers.common import ChatNotifier
from batchrelay.notifiers.config import DingTalkConfig
from batchrelay.notifiers.http import Reply
from batchrelay.notifiers.text import fit_bytes

THROTTLE_SECONDS = 600.0  # "超过20条会限流10分钟"

REASONS: dict[int, FailureReason] = {
    130101: FailureReason.RATE_LIMITED,
    410100: FailureReason.RATE_LIMITED,
    90030: FailureReason.RATE_LIMITED,
    310000: FailureReason.AUTH_ERROR,
    300001: FailureReason.AUTH_ERROR,
    400101: FailureReason.AUTH_ERROR,
    400102: FailureReason.AUTH_ERROR,
    400106: FailureReason.AUTH_ERROR,
    -1: FailureReason.SERVER_ERROR,
}


def sign(secret: str, timestamp_ms: int) -> str:
    """The 加签 signature, base64 (not yet URL-encoded)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkNotifier(ChatNotifier):
    kind = "dingtalk"
    dialect = "markdown_nocode"

    def __init__(self, name: str, config: DingTalkConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.ding = config

    def secrets(self) -> Iterable[str]:
        yield from super().secrets()
        if self.ding.secret is not None:
            yield self.ding.secret.get_secret_value()

    async def send(self, notification: Notification) -> None:
        title, text = self.render(notification)
        body = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": fit_bytes(text, self.ding.max_bytes)},
            "at": {"atMobiles": list(self.ding.at_mobiles), "isAtAll": self.ding.at_all},
        }
        self._check(await self._post(self._signed_url(), body))

    def _signed_url(self) -> URL:
        url = self.ding.url.get_secret_value()
        if self.ding.secret is None:
            return URL(url, encoded=True)
        now = int(time.time() * 1000)
        signature = quote(sign(self.ding.secret.get_secret_value(), now), safe="")
        joiner = "&" if "?" in url else "?"
        # encoded=True: the signature is already percent-encoded exactly as DingTalk wants.
        return URL(f"{url}{joiner}timestamp={now}&sign={signature}", encoded=True)

    def _check(self, reply: Reply) -> None:
        waits = dict.fromkeys((130101, 410100), THROTTLE_SECONDS)
        self._check_coded(reply, ("errcode",), ("errmsg",), REASONS, waits)

"""Discord webhook: one embed in the webhook's channel.

Request: ``POST https://discord.com/api/webhooks/{id}/{token}?wait=true`` with
``{"embeds": [{title, description, color, timestamp, footer}], "allowed_mentions":
{"parse": []}}``. ``wait=true`` makes Discord confirm the message (200 with the message)
instead of answering 204 before it is stored; ``allowed_mentions`` keeps text from the
events (``@everyone`` in an error message) from pinging anyone.

Errors are HTTP statuses with a JSON body; a 429 carries ``{"message", "retry_after"
(seconds, fractional), "global"}`` and a ``Retry-After`` header: the body's value wins as
it is more precise. 401/403/404 (webhook deleted or token wrong) → ``auth_error`` /
``client_error`` by the shared rules.

Limits: ``content`` 2000 characters; an embed title 256, description 4096, all embeds 6000.
The text goes in one embed description, truncated with a marker. Discord publishes no fixed
webhook rate (it asks clients to read the headers); the default budget, 5 per 2 seconds and
30 a minute, is what webhooks are observed to get. Dialect ``markdown``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from batchrelay.notifiers.base import FailureReason, Notification
from batchrelay.notifiers.common import ChatNotifier, json_object, tone
from batchrelay.notifiers.config import DiscordConfig
from batchrelay.notifiers.http import Reply
from batchrelay.notifiers.text import fit_chars

TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
COLOURS = {"bad": 0xE01E5A, "warning": 0xECB22E, "good": 0x2EB67D, "neutral": 0x5865F2}


class DiscordNotifier(ChatNotifier):
    kind = "discord"
    dialect = "markdown"
    show_title = False

    def __init__(self, name: str, config: DiscordConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.discord = config

    async def send(self, notification: Notification) -> None:
        title, text = self.render(notification)
        url = URL(self.discord.url.get_secret_value()).update_query(wait="true")
        self._check(await self._post(url, self.payload(title, text, notification)))

    def payload(self, title: str, text: str, notification: Notification) -> dict[str, Any]:
        embed = {
            "title": fit_chars(title, TITLE_CHARS, "…"),
            "description": fit_chars(text, DESCRIPTION_CHARS),
            "color": COLOURS[tone(notification)],
            "timestamp": notification.created_at.isoformat(),
            "footer": {"text": f"batchrelay · route {notification.route}"},
        }
        body: dict[str, Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
        if self.discord.username:
            body["username"] = self.discord.username
        return body

    def _check(self, reply: Reply) -> None:
        if reply.status == 429:
            answer = json_object(reply.body) or {}
            wait = answer.get("retry_after")
            if isinstance(wait, int | float):
                raise self._error(FailureReason.RATE_LIMITED, "HTTP 429", float(wait))
        self._raise_for_status(reply)

"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"):
an Adaptive Card posted to a channel or chat.

Request: ``POST`` to the workflow's URL (``https://…powerautomate…/workflows/…/triggers/
manual/paths/invoke?…&sig=…``: the ``sig`` makes the whole URL a secret) with the message
envelope ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]}``. The
Workflows app supports Adaptive Cards only, not the old connector MessageCard.

The workflow answers ``202 Accepted``; errors come as HTTP statuses (413 when the message
is too large, 429 with ``Retry-After`` when throttled), read by the shared HTTP rules.

Limits: a message of about 28 KB, so the card text is truncated with a marker to
:data:`MAX_BYTES`; more than 4 requests a second are throttled. Dialect
``markdown_nocode``: Adaptive Card TextBlocks render a Markdown subset without code spans.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.common import ChatNotifier, tone
from batchrelay.notifiers.config import TeamsConfig
from batchrelay.notifiers.text import fit_bytes

CARD = "application/vnd.microsoft.card.adaptive"
TITLE_COLOURS = {"bad": "Attention", "warning": "Warning", "good": "Good", "neutral": "Default"}


class TeamsNotifier(ChatNotifier):
    kind = "teams"
    dialect = "markdown_nocode"
    show_title = False

    def __init__(self, name: str, config: TeamsConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.teams = config

    async def send(self, notification: Notification) -> None:
        title, text = self.render(notification)
        card = self.card(title, fit_bytes(text, self.teams.max_bytes), notification)
        envelope = {
            "type": "message",
            "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
        }
        self._raise_for_status(await self._post(self.teams.url.get_secret_value(), envelope))

    @staticmethod
    def card(title: str, text: str, notification: Notification) -> dict[str, Any]:
        return {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [
                {
                    "type": "TextBlock",
                    "text": title,
                    "size": "Large",
                    "weight": "Bolder",
                    "color": TITLE_COLOURS[tone(notification)],
                    "wrap": True,
                },
                {"type": "TextBlock", "text": text, "wrap": True},
            ],
        }

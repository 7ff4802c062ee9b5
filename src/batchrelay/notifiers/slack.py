"""Slack incoming webhook: a Block Kit message to the webhook's channel.

Request: ``POST https://hooks.slack.com/services/T…/B…/…`` with ``{"text": fallback,
"blocks": [header, section…, context]}``; the URL is the only credential.

Slack answers ``200 ok`` and reports errors with the HTTP status and a plain-text code in
the body, so the shared HTTP reading applies: 400 ``invalid_payload`` / ``user_not_found``
→ ``client_error``; 403 ``action_prohibited`` → ``auth_error``; 404 ``channel_not_found``
/ ``no_service`` and 410 ``channel_is_archived`` → ``client_error``; 429 with
``Retry-After`` → ``rate_limited``; 5xx ``rollup_error`` → ``server_error``.

Limits: about one message a second per webhook (short bursts tolerated). A header block
holds 150 characters and a section 3000, so the text is split into several sections of
one message (at most ``max_sections``), the last truncated with a marker if needed.
Dialect ``slack`` (mrkdwn: ``*bold*``, only ``&<>`` escaped).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.common import ChatNotifier
from batchrelay.notifiers.config import SlackConfig
from batchrelay.notifiers.text import fit_chars, split_chars

HEADER_CHARS = 150
SECTION_CHARS = 3000


class SlackNotifier(ChatNotifier):
    kind = "slack"
    dialect = "slack"
    show_title = False

    def __init__(self, name: str, config: SlackConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.slack = config

    async def send(self, notification: Notification) -> None:
        title, text = self.render(notification)
        body = self.payload(title, text, notification)
        self._raise_for_status(await self._post(self.slack.url.get_secret_value(), body))

    def payload(self, title: str, text: str, notification: Notification) -> dict[str, Any]:
        header = fit_chars(title, HEADER_CHARS, "…")
        sections = split_chars(text, SECTION_CHARS, self.slack.max_sections)
        footer = f"batchrelay · route {notification.route} · {notification.id}"
        return {
            "text": header,  # shown in notifications and where blocks cannot be
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": header}},
                *({"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections),
                {"type": "context", "elements": [{"type": "plain_text", "text": footer}]},
            ],
        }

"""The ``log`` receiver: notifications printed in the daemon's own output.

For watching routes, rules and templates at work without a chat account (the quick start
routes to one). Each notification becomes one ``notification`` log line at info with the
receiver, the title, the text (the chat template in the ``text`` dialect, or
``template``), the kinds of events it carries and its alert notices: a readable block on
a terminal, a JSON line otherwise. The text is the message a chat would get: object paths
and error messages, never credentials.
"""

from __future__ import annotations

import structlog

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.common import ChatNotifier

log = structlog.get_logger(__name__)


class LogNotifier(ChatNotifier):
    kind = "log"
    dialect = "text"
    show_title = False  # the title is its own field

    async def send(self, notification: Notification) -> None:
        title, text = self.render(notification)
        events = notification.events
        kinds = sorted({str(e.get("kind")) for e in events})
        alerts = [f"{e['alertname']} {e['notice']}" for e in events if e.get("kind") == "alert"]
        log.info("notification", receiver=self.name, notification_id=notification.id,
                 title=title, text=text, kinds=kinds, alerts=alerts,
                 digest=notification.digest)  # fmt: skip

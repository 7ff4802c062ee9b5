"""Generic webhook: a JSON POST, optionally signed the Standard Webhooks way.

Body: by default ``{"notification": {id, receiver, route, group_key, digest, omitted,
created_at}, "events": [normalized views], "batch": BatchView JSON | null}``; or a Jinja2
``template`` that renders JSON (validated before sending: a non-JSON result fails the
notification with ``template``). Extra ``headers`` (values are secrets: they often carry
tokens) are added to every request.

Signing (https://www.standardwebhooks.com): with ``secret: whsec_<base64>``, each request
carries ``webhook-id`` (the notification id: a retry repeats it, so receivers can dedup),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed by the base64-decoded part of the secret. The body is
serialized once and signed byte for byte as sent.

Success is any 2xx; everything else follows the shared HTTP rules (429 and 503 honour
``Retry-After``). No platform budget by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable

import aiohttp

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.common import HttpNotifier
from batchrelay.notifiers.config import (
    WebhookConfig,
    signing_key,
)
from batchrelay.notifiers.payload import default_body, templated_body
from batchrelay.notifiers.templates import Template, compile_template


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookNotifier(HttpNotifier):
    kind = "webhook"

    def __init__(self, name: str, config: WebhookConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.webhook = config
        self._body: Template | None = None
        if config.template is not None:
            self._body = compile_template(config.template, self.where("template"))
        self._key = signing_key(config.secret.get_secret_value()) if config.secret else None

    def secrets(self) -> Iterable[str]:
        yield self.webhook.url.get_secret_value()
        yield from (value.get_secret_value() for value in self.webhook.headers.values())
        if self.webhook.secret is not None:
            yield self.webhook.secret.get_secret_value()

    async def send(self, notification: Notification) -> None:
        body = self.body(notification)
        headers = {name: value.get_secret_value() for name, value in self.webhook.headers.items()}
        headers |= self.signing_headers(notification.id, body)
        reply = await self._post(self.webhook.url.get_secret_value(), body, headers)
        self._raise_for_status(reply)

    def body(self, notification: Notification) -> bytes:
        if self._body is None:
            return default_body(notification)
        return templated_body(self._body, notification, max_failures=self.config.max_failures)

    def signing_headers(self, message_id: str, body: bytes) -> dict[str, str]:
        """``webhook-id`` always (receivers dedup on it), the signature when keyed."""
        now = int(time.time())
        headers = {"webhook-id": message_id, "webhook-timestamp": str(now)}
        if self._key is not None:
            headers["webhook-signature"] = signature(self._key, message_id, now, body)
        return headers

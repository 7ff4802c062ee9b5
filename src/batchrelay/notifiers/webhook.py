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
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Literal

import aiohttp
from pydantic import Field, SecretStr, field_validator

from batchrelay.delivery.templates import Template, compile_template
from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.common import HttpNotifier
from batchrelay.notifiers.config import ChannelConfig, require_http_url
from batchrelay.notifiers.payload import default_body, templated_body

SECRET_PREFIX = "whsec_"
RESERVED_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-length", "host"}
)


class WebhookConfig(ChannelConfig):
    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    secret: SecretStr | None = None  # whsec_<base64 key>: Standard Webhooks signing

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        return require_http_url(value)

    @field_validator("headers")
    @classmethod
    def _own_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        taken = sorted(name for name in value if name.lower() in RESERVED_HEADERS)
        if taken:
            raise ValueError(f"headers set by batchrelay cannot be configured: {taken}")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            signing_key(value.get_secret_value())
        return value


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ``ValueError`` (not naming it) when malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r} followed by base64")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX!r} is not base64") from None
    if not key:
        raise ValueError("the signing key is empty")
    return key


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

"""Forwarding to an Alibaba Cloud MNS topic: the rendered JSON published as one message.

Publishing uses the official ``aliyun-mns-sdk`` (``Topic.publish_message``). The SDK is
blocking and not thread-safe, so each receiver owns one worker thread and one ``Account``
(see ``sdk_thread.py``); every call is bounded by ``timeout``.

Body: the webhook's default JSON (``{"notification", "events", "batch"}``; events are
dropped from the end, and counted in ``omitted``, to stay under the 64 KB message limit)
or a ``template`` that renders JSON. ``message_tag`` sets the MNS tag subscribers can
filter on.

Failures: ``MNSServerException`` types ``QpsLimitExceeded``/``Throttling``/
``TooManyRequests`` → ``rate_limited``; ``InternalError``/``ServiceUnavailable`` →
``server_error``; ``AccessDenied``/``InvalidAccessKeyId``/``SignatureDoesNotMatch`` →
``auth_error``; other server types (``TopicNotExist``, ``MessageBodyTooLarge`` …) →
``client_error``; network exceptions → ``connection``; no answer in time → ``timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import aiohttp
from mns.account import Account
from mns.mns_exception import (
    MNSClientNetworkException,
    MNSExceptionBase,
    MNSServerException,
)
from mns.topic import TopicMessage

from batchrelay.notifiers.base import FailureReason, Notification, SendError, send_error
from batchrelay.notifiers.config import MnsTopicConfig
from batchrelay.notifiers.http import Redactor
from batchrelay.notifiers.payload import default_body, templated_body
from batchrelay.notifiers.templates import Template, compile_template
from batchrelay.sdk_thread import SdkThread

MAX_BODY_BYTES = 64 * 1024
_THROTTLED = frozenset({"QpsLimitExceeded", "Throttling", "TooManyRequests"})
_SERVER = frozenset({"InternalError", "InternalServerError", "ServiceUnavailable"})
_AUTH = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


class MnsTopicNotifier:
    kind = "mns_topic"

    def __init__(
        self, name: str, config: MnsTopicConfig, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._body: Template | None = None
        if config.template is not None:
            self._body = compile_template(config.template, f"receivers.{name}.template")
        self._redact = Redactor.of(self.secrets())
        self._thread: SdkThread | None = None
        self._topic: Any = None

    def secrets(self) -> Iterable[str]:
        return (self.config.access_key_secret.get_secret_value(),)

    async def send(self, notification: Notification) -> None:
        body = self._render(notification)
        thread, topic = self._open()
        message = TopicMessage(body.decode(), self.config.message_tag)
        try:
            await asyncio.wait_for(thread.call(topic.publish_message, message), self.config.timeout)
        except Exception as exc:  # classified here: nothing past a notifier sees the SDK
            raise self._classify(exc) from None

    def _render(self, notification: Notification) -> bytes:
        if self._body is None:
            return default_body(notification, MAX_BODY_BYTES)
        return templated_body(self._body, notification, max_failures=self.config.max_failures)

    def _open(self) -> tuple[SdkThread, Any]:
        if self._thread is None:
            cfg = self.config
            account = Account(
                cfg.endpoint, cfg.access_key_id, cfg.access_key_secret.get_secret_value()
            )
            account.mns_client.set_connection_timeout(max(1, int(cfg.timeout)))
            self._topic = account.get_topic(cfg.topic)
            self._thread = SdkThread(f"mns-topic-{self.name}")
        return self._thread, self._topic

    def _classify(self, exc: Exception) -> SendError:
        reason, detail = classify_mns(exc)
        return send_error(reason, self._redact(detail))

    async def close(self) -> None:
        if self._thread is None:
            return
        connection = self._topic.mns_client.http.conn
        self._thread.stop(cleanup=connection.close)
        await asyncio.shield(self._thread.join(grace=2.0))
        self._thread = None


def classify_mns(exc: Exception) -> tuple[FailureReason, str]:
    if isinstance(exc, TimeoutError):
        return FailureReason.TIMEOUT, "no answer in time"
    if isinstance(exc, MNSServerException):
        detail = f"{exc.type}: {exc.message}"
        if exc.type in _THROTTLED:
            return FailureReason.RATE_LIMITED, detail
        if exc.type in _SERVER:
            return FailureReason.SERVER_ERROR, detail
        if exc.type in _AUTH:
            return FailureReason.AUTH_ERROR, detail
        return FailureReason.CLIENT_ERROR, detail
    if isinstance(exc, MNSClientNetworkException | OSError):
        return FailureReason.CONNECTION, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MNSExceptionBase):
        return FailureReason.CLIENT_ERROR, f"{exc.type}: {exc.message}"
    raise exc

"""What HTTP notifiers share: the session, the secret scrubber, rendering and body codes.

A channel module subclasses :class:`HttpNotifier` (or :class:`ChatNotifier` for chat
webhooks) and supplies the payload and the platform's reading of its answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, ClassVar

import aiohttp
from yarl import URL

from batchrelay.notifiers.base import (
    FailureReason,
    Notification,
    SendError,
    classify_http,
    send_error,
)
from batchrelay.notifiers.config import ChannelConfig, ChatConfig, TitledConfig
from batchrelay.notifiers.http import Redactor, Reply, json_bytes, post
from batchrelay.notifiers.template_context import build_context
from batchrelay.notifiers.templates import compile_template
from batchrelay.notifiers.templates import template_or_default as load_template

DEFAULT_TITLE = "{{ s.title }}"


class HttpNotifier:
    """A receiver reached by HTTP POST through the daemon's shared ``aiohttp`` session."""

    kind: ClassVar[str] = ""

    def __init__(self, name: str, config: ChannelConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.config = config
        self._session = session

    @cached_property
    def _redact(self) -> Redactor:
        # Lazy: subclasses keep their typed config in attributes set after this __init__.
        return Redactor.of(self.secrets())

    def secrets(self) -> Iterable[str]:
        """Strings that must never reach an error message or a log line."""
        return ()

    def where(self, key: str) -> str:
        return f"receivers.{self.name}.{key}"

    async def _post(
        self, url: str | URL, payload: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        body = payload if isinstance(payload, bytes) else json_bytes(payload)
        return await post(
            self._session,
            url,
            body=body,
            seconds=self.config.timeout,
            redact=self._redact,
            headers=headers,
        )

    def _error(
        self, reason: FailureReason, detail: str, retry_after: float | None = None
    ) -> SendError:
        return send_error(reason, self._redact(detail), retry_after)

    def _raise_for_status(self, reply: Reply) -> None:
        error = classify_http(reply.status, reply.headers, reply.body)
        if error is not None:
            raise self._error(error.reason, error.detail, error.retry_after)

    def _check_coded(
        self,
        reply: Reply,
        code_keys: tuple[str, ...],
        message_keys: tuple[str, ...],
        reasons: Mapping[int, FailureReason],
        waits: Mapping[int, float] | None = None,
    ) -> None:
        """For platforms that report errors in the body (``errcode``, ``code``): the body
        code decides when there is one, else the HTTP status; unknown codes are permanent
        client errors."""
        answer = json_object(reply.body)
        code = _first_int(answer, code_keys)
        if status_wins(reply) or answer is None or code is None:
            self._raise_for_status(reply)
            if answer is None:
                raise self._error(FailureReason.SERVER_ERROR, "the answer is not JSON")
            return
        if code != 0:
            message = next((str(answer[k]) for k in message_keys if k in answer), "")
            reason = reasons.get(code, FailureReason.CLIENT_ERROR)
            raise self._error(reason, f"code {code}: {message}", (waits or {}).get(code))

    async def close(self) -> None:
        """Nothing to release: the session belongs to the daemon."""


class ChatNotifier(HttpNotifier):
    """A chat webhook: a title and a message text rendered in the channel's dialect."""

    dialect: ClassVar[str] = "markdown"
    show_title: ClassVar[bool] = True  # False where the platform shows the title itself

    def __init__(self, name: str, config: TitledConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self._text = load_template(config.template, "chat", self.where("template"))
        self._title = compile_template(config.title or DEFAULT_TITLE, self.where("title"))

    def secrets(self) -> Iterable[str]:
        if isinstance(self.config, ChatConfig):
            yield self.config.url.get_secret_value()

    def render(self, notification: Notification) -> tuple[str, str]:
        """(title, text) for ``notification``; raises a ``template`` SendError."""
        context = build_context(
            notification,
            dialect=self.dialect,
            show_title=self.show_title,
            max_failures=self.config.max_failures,
        )
        title = " ".join(self._title.render_context(context).split()) or "batchrelay"
        return title, self._text.render_context(context).strip()


def _first_int(answer: dict[str, Any] | None, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = (answer or {}).get(key)
        if isinstance(value, int | str) and str(value).lstrip("-").isdigit():
            return int(value)
    return None


def json_object(body: bytes) -> dict[str, Any] | None:
    """The answer as a JSON object, or ``None`` when it is anything else."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def status_wins(reply: Reply) -> bool:
    """Throttling and server failures are read from the status even when a body code
    exists: a gateway in front of the platform answers those, not the platform."""
    return reply.status == 429 or reply.status >= 500


def state_of(notification: Notification) -> str:
    """The batch state the message reports, for colours and labels."""
    batch = notification.batch or {}
    last = notification.events[-1] if notification.events else {}
    return str(batch.get("state") or last.get("status") or "unknown")


def tone(notification: Notification) -> str:
    """good / warning / bad / neutral: each platform maps it to its own colours."""
    state = state_of(notification)
    if state in ("failed", "suspended"):
        return "bad"
    if notification.digest or any(e.get("status") == "failed" for e in notification.events):
        return "warning"
    return "good" if state in ("succeeded", "finished") else "neutral"

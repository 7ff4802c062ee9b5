"""The notifier contract: what a receiver is, what it is given, and how it fails.

Who calls what: the dispatcher (``delivery/dispatcher.py``) builds one :class:`Notifier`
per configured receiver at start and on reload, calls :meth:`Notifier.send` once per
:class:`Notification` (and again, with the *same* notification, on each retry), and calls
:meth:`Notifier.close` once when the receiver is retired.

How it fails: ``send`` returns ``None`` when the platform accepted the message and raises a
:class:`SendError` otherwise, never anything else (``aiohttp`` errors, SDK errors and
platform error codes are classified here, at the boundary). The error carries the retry
decision (``retryable``), a closed ``reason`` shared by logs, store rows and metrics, and
``retry_after`` when the platform said how long to wait. Messages never contain secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from batchrelay.errors import DeliveryError, PermanentError, RetryableError

#: Longest platform text kept in an error message: enough to diagnose, never a payload.
DETAIL_LIMIT = 300


class FailureReason(StrEnum):
    """Why a send failed. Closed: the same values in logs, store rows and metrics."""

    AUTH_ERROR = "auth_error"  # bad token, signature, IP allow-list; permanent
    RATE_LIMITED = "rate_limited"  # the platform throttled us; retry later
    CLIENT_ERROR = "client_error"  # the platform refused this message; permanent
    SERVER_ERROR = "server_error"  # the platform failed; retry
    TIMEOUT = "timeout"  # no answer in time; retry
    CONNECTION = "connection"  # could not reach the platform; retry
    TEMPLATE = "template"  # our template could not render this notification; permanent


RETRYABLE_REASONS: frozenset[FailureReason] = frozenset(
    {
        FailureReason.RATE_LIMITED,
        FailureReason.SERVER_ERROR,
        FailureReason.TIMEOUT,
        FailureReason.CONNECTION,
    }
)


class SendError(DeliveryError):
    """A notification was not delivered. Build one with :func:`send_error`."""

    retryable: ClassVar[bool] = False

    def __init__(
        self, reason: FailureReason, detail: str = "", retry_after: float | None = None
    ) -> None:
        self.reason = reason
        self.detail = detail[:DETAIL_LIMIT]
        self.retry_after = retry_after
        text = f"{reason.value}: {self.detail}" if self.detail else reason.value
        Exception.__init__(self, text)


class RetryableSendError(SendError, RetryableError):
    """Try again, not before ``retry_after`` seconds when it is given."""

    retryable: ClassVar[bool] = True

    def __init__(
        self, reason: FailureReason, detail: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(reason, detail, retry_after)
        self.delay = retry_after  # the RetryableError spelling of the same fact


class PermanentSendError(SendError, PermanentError):
    """Do not try again: the same request would fail the same way."""


def send_error(
    reason: FailureReason, detail: str = "", retry_after: float | None = None
) -> SendError:
    """The error for ``reason``: retryable exactly when the reason is."""
    if reason in RETRYABLE_REASONS:
        return RetryableSendError(reason, detail, retry_after)
    return PermanentSendError(reason, detail)


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One message for one receiver: a group of events, maybe coalesced into a digest.

    ``kw_only`` lets ``created_at`` stay required after the fields that have defaults.
    """

    id: str  # idempotency key, stable across retries (Standard Webhooks ``webhook-id``)
    receiver: str
    route: str  # path of the route that produced it
    group_key: str
    events: list[dict[str, Any]]  # normalized views, oldest first
    batch: dict[str, Any] | None = None  # BatchView JSON of the group's batch, if any
    digest: bool = False  # pending messages were coalesced: the send budget ran short
    omitted: int = 0  # events left out of ``events`` when coalescing or truncating
    public_url: str | None = None  # ``server.public_url``: where the message's links point
    created_at: datetime


@runtime_checkable
class Notifier(Protocol):
    """A configured receiver. ``send`` raises :class:`SendError`; nothing else escapes."""

    name: str  # the receiver name from config
    kind: str  # the config ``type``: "webhook", "dingtalk", ...

    async def send(self, notification: Notification) -> None: ...

    async def close(self) -> None: ...


def classify_http(status: int, headers: Mapping[str, str], body: bytes) -> SendError | None:
    """The shared reading of an HTTP answer; ``None`` means accepted (2xx).

    401/403 → auth (permanent); 429 → rate limited (``Retry-After`` honoured); 408 and 5xx
    → server error (retryable, ``Retry-After`` honoured on 503); 3xx and other 4xx →
    client error (permanent: redirects are not followed, a moved webhook is a config fix).
    """
    if 200 <= status < 300:
        return None
    detail = f"HTTP {status}" + (f": {snippet(body)}" if body.strip() else "")
    if status in (401, 403):
        return send_error(FailureReason.AUTH_ERROR, detail)
    if status == 429:
        return send_error(FailureReason.RATE_LIMITED, detail, retry_after_seconds(headers))
    if status == 408 or status >= 500:
        return send_error(FailureReason.SERVER_ERROR, detail, retry_after_seconds(headers))
    return send_error(FailureReason.CLIENT_ERROR, detail)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def snippet(body: bytes | str, limit: int = 200) -> str:
    """A short single-line excerpt of a platform answer, for error details."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return " ".join(text.split())[:limit]

"""Sending to a webhook subscription: the payload, its Standard Webhooks signatures, and
one guarded POST.

The body is ``{"type": "batch.failed", "timestamp": ..., "data": {"subscription": id,
"event": <normalized view>, "batch": <batch summary or null>}}`` (the schema is in the
OpenAPI document). ``webhook-id`` is derived from the subscription and the event, so a
retry, a repeat after a crash and a replay all carry the id of the first send and the
consumer can dedup on it. During a secret rotation's overlap the ``webhook-signature``
header holds one ``v1,`` signature per live secret, separated by spaces.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from batchrelay.notifiers.base import FailureReason, PermanentSendError, classify_http
from batchrelay.notifiers.config import signing_key
from batchrelay.notifiers.egress import EgressPolicy, GuardedResolver
from batchrelay.notifiers.http import Redactor, Reply, json_bytes, post
from batchrelay.notifiers.webhook import signature
from batchrelay.routing.subscriptions import event_type

#: Header names a subscription may not set: the transport's and the signature's.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "transfer-encoding",
        "connection",
    }
)


def message_id(subscription_id: str, event_id: str) -> str:
    """The idempotency id of one event for one subscription: the same on every send."""
    digest = hashlib.sha256(f"{subscription_id}\n{event_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def payload(
    subscription_id: str, view: Mapping[str, Any], batch: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        "type": event_type(view),
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"subscription": subscription_id, "event": dict(view), "batch": batch},
    }


def ping(subscription_id: str) -> dict[str, Any]:
    """The body ``POST …/{id}/test`` sends."""
    return {
        "type": "ping",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"subscription": subscription_id, "event": None, "batch": None},
    }


def signing_headers(msg_id: str, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    now = int(time.time())
    signatures = " ".join(signature(signing_key(s), msg_id, now, body) for s in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": signatures}


class SubscriptionSender:
    """POSTs to subscriber URLs through a session of its own whose resolver applies the
    egress policy; ``timeout`` bounds each exchange. Close it when done."""

    def __init__(self, policy: EgressPolicy, timeout: float = 10.0) -> None:
        self.policy, self.timeout = policy, timeout
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy), limit=64)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def exchange(
        self,
        url: str,
        msg_id: str,
        body: dict[str, Any],
        secrets: Sequence[str],
        headers: Mapping[str, str],
    ) -> Reply:
        """One signed POST and the answer, whatever its status; a refused URL or a
        transport failure raises ``SendError``."""
        problem = await self.policy.refusal(url)
        if problem is not None:
            raise PermanentSendError(FailureReason.CLIENT_ERROR, f"refused URL: {problem}")
        data = json_bytes(body)
        sent = {**headers, **signing_headers(msg_id, data, secrets)}
        redact = Redactor.of([url, *secrets, *headers.values()])
        return await post(
            self._open(), url, body=data, seconds=self.timeout, redact=redact, headers=sent
        )

    async def send(
        self,
        url: str,
        msg_id: str,
        body: dict[str, Any],
        secrets: Sequence[str],
        headers: Mapping[str, str],
    ) -> None:
        """Delivered on 2xx; anything else raises ``SendError`` (the shared HTTP rules)."""
        reply = await self.exchange(url, msg_id, body, secrets, headers)
        error = classify_http(reply.status, reply.headers, reply.body)
        if error is not None:
            raise error

"""Webhook subscriptions as the store keeps them, and the contract of ``store.subscriptions``.

Subscriptions live in the store (not the config) so that every replica sharing it serves
the same ones: a commit reads the enabled ones in its own transaction and writes the
obligations of those that match (``routing/subscriptions.py``). Each backend implements
:class:`Subscriptions` in ``store/<backend>/subscriptions.py``.

Secrets: the first of ``secrets`` signs; a rotated-out secret stays in the list with an
``expires_at`` (microseconds) and signs too until then, so a consumer can switch keys
without losing messages (Standard Webhooks allows several signatures in one header).
Times are microseconds since the epoch, as in the outbox.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from batchrelay.routing.subscriptions import Target


@dataclass(frozen=True, slots=True)
class Secret:
    value: str
    expires_at: int | None = None  # None: the current secret

    def live(self, now: int) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    secrets: tuple[Secret, ...]
    description: str = ""
    filter: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: tuple[int, float] | None = None  # at most (count, per seconds)
    enabled: bool = True
    disabled_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    failing_since: int | None = None  # first failed attempt since the last success

    def signing_secrets(self, now: int) -> list[str]:
        return [secret.value for secret in self.secrets if secret.live(now)]

    def public(self) -> dict[str, Any]:
        """The API view: everything but the secrets (header values are shown by name only,
        a query string not at all: webhook URLs often carry a token there)."""
        return {
            "id": self.id,
            "url": shown_url(self.url),
            "description": self.description,
            "filter": self.filter,
            "kinds": list(self.kinds),
            "headers": sorted(self.headers),
            "rate_limit": {"count": self.rate_limit[0], "seconds": self.rate_limit[1]}
            if self.rate_limit
            else None,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "failing_since": self.failing_since,
        }

    def rotated(self, new: str, expires_at: int, now: int) -> Subscription:
        """``new`` signs from now on; the current secret also signs until ``expires_at``."""
        kept = [
            replace(s, expires_at=expires_at) if s.expires_at is None else s
            for s in self.secrets
            if s.live(now)
        ]
        return replace(self, secrets=(Secret(new), *kept), updated_at=now)


def shown_url(url: str) -> str:
    """``url`` without its query and fragment, marked when it had them."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return url[:cut] + ("?<redacted>" if cut < len(url) else "")


#: Columns in the order both backends store them.
COLUMNS = (
    "id, url, description, filter, kinds, headers, rate_limit, enabled, disabled_reason,"
    " metadata, secrets, created_at, updated_at, failing_since"
)


def to_row(sub: Subscription) -> tuple[Any, ...]:
    """The row of ``sub`` in :data:`COLUMNS` order (JSON text for structured values)."""
    dump = _json
    return (
        sub.id,
        sub.url,
        sub.description,
        dump(sub.filter),
        dump(list(sub.kinds)),
        dump(sub.headers),
        dump(list(sub.rate_limit)) if sub.rate_limit else None,
        sub.enabled,
        sub.disabled_reason,
        dump(sub.metadata),
        dump([[s.value, s.expires_at] for s in sub.secrets]),
        sub.created_at,
        sub.updated_at,
        sub.failing_since,
    )


def from_row(row: Sequence[Any]) -> Subscription:
    (
        sid,
        url,
        description,
        filter_,
        kinds,
        headers,
        rate,
        enabled,
        reason,
        metadata,
        secrets,
        created,
        updated,
        failing,
    ) = row
    limit = json.loads(rate) if rate else None
    return Subscription(
        id=sid,
        url=url,
        description=description,
        filter=json.loads(filter_),
        kinds=tuple(json.loads(kinds)),
        headers=json.loads(headers),
        rate_limit=(int(limit[0]), float(limit[1])) if limit else None,
        enabled=bool(enabled),
        disabled_reason=reason,
        metadata=json.loads(metadata),
        secrets=tuple(Secret(value, expires) for value, expires in json.loads(secrets)),
        created_at=int(created),
        updated_at=int(updated),
        failing_since=int(failing) if failing is not None else None,
    )


def target_of(row: Sequence[Any]) -> Target:
    """A (id, filter, kinds) row as the matcher takes it."""
    sid, filter_, kinds = row
    return Target(sid, filter_, tuple(json.loads(kinds)))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class Subscriptions(Protocol):
    """``store.subscriptions``: kept by the API, read by the dispatcher."""

    async def create(self, sub: Subscription) -> None: ...

    async def get(self, subscription_id: str) -> Subscription | None: ...

    async def all(self) -> list[Subscription]: ...

    async def save(self, sub: Subscription) -> bool:
        """Replace a subscription whole; False when it does not exist."""

    async def delete(self, subscription_id: str) -> bool:
        """Remove it and drop what it still had pending (those deliveries end ``dead``)."""

    async def note_attempt(self, subscription_id: str, ok: bool, now: int) -> None:
        """A success clears ``failing_since``; a failure sets it unless already set."""

    async def disable_failing(self, since: int, reason: str, now: int) -> list[Subscription]:
        """Disable every enabled subscription failing since ``since`` or earlier; returns them."""

    async def resume(self, subscription_id: str, now: int) -> int:
        """Its pending deliveries due now (after re-enabling); returns how many."""

    async def deliveries(
        self, subscription_id: str, limit: int, before: str
    ) -> list[dict[str, Any]]:
        """Its deliveries newest first, each with its attempts (keyset ``updated_at:id``)."""

    async def replay(
        self,
        subscription_id: str,
        batch_key: str | None,
        since: int | None,
        until: int | None,
        now: int,
    ) -> int:
        """New deliveries of the events it was sent for the batch or in the time range;
        returns how many events."""

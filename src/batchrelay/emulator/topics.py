"""Topics and subscriptions: their state, endpoint forms and tag filtering.

Delivery itself lives elsewhere: :mod:`notifications` renders what a subscriber receives,
:mod:`push` sends it over HTTP, the backend writes it into queues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from batchrelay.emulator.attributes import TopicAttributes
from batchrelay.emulator.errors import MnsError, invalid_argument

MAX_TAG_LENGTH = 16

E = TypeVar("E", bound=StrEnum)

_QUEUE_ENDPOINT = re.compile(r"^acs:mns:[a-z0-9-]+:[^:/]+:queues/([A-Za-z][A-Za-z0-9-]{0,255})$")


class NotifyStrategy(StrEnum):
    """How MNS retries a push an HTTP endpoint did not accept."""

    BACKOFF_RETRY = "BACKOFF_RETRY"
    EXPONENTIAL_DECAY_RETRY = "EXPONENTIAL_DECAY_RETRY"


class ContentFormat(StrEnum):
    """What a subscriber receives: an XML or JSON wrapper, or the bare published body."""

    XML = "XML"
    JSON = "JSON"
    SIMPLIFIED = "SIMPLIFIED"


@dataclass(slots=True)
class Subscription:
    topic: str
    name: str
    endpoint: str
    notify_strategy: NotifyStrategy
    content_format: ContentFormat
    filter_tag: str
    created: int
    modified: int

    @property
    def queue_name(self) -> str | None:
        """The queue of an ``acs:mns:{region}:{uid}:queues/{q}`` endpoint, else None."""
        match = _QUEUE_ENDPOINT.match(self.endpoint)
        return match.group(1) if match else None

    def accepts(self, tag: str) -> bool:
        """A subscription with a FilterTag only gets messages published with that tag."""
        return not self.filter_tag or self.filter_tag == tag

    def same_settings(self, other: Subscription) -> bool:
        return (self.endpoint, self.notify_strategy, self.content_format, self.filter_tag) == (
            other.endpoint,
            other.notify_strategy,
            other.content_format,
            other.filter_tag,
        )


@dataclass(frozen=True, slots=True)
class Publication:
    """One PublishMessage, as every subscriber sees it."""

    topic: str
    message_id: str
    body: str
    body_md5: str
    tag: str
    publish_ms: int


@dataclass(slots=True)
class Topic:
    name: str
    attributes: TopicAttributes
    created: int
    modified: int
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    published: int = 0

    def matching(self, tag: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.accepts(tag)]


def _choice(kind: type[E], name: str, value: str | None, default: E) -> E:
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(kind)
        raise invalid_argument(f"The value of {name} should be one of {allowed}.") from None


def parse_strategy(value: str | None, default: NotifyStrategy) -> NotifyStrategy:
    return _choice(NotifyStrategy, "NotifyStrategy", value, default)


def _check_endpoint(endpoint: str) -> None:
    if endpoint.startswith(("http://", "https://")) or _QUEUE_ENDPOINT.match(endpoint):
        return
    # Mail and SMS endpoints exist on MNS; batchrelay never needs them.
    raise MnsError(400, "EndpointInvalid", f"The endpoint is not supported: {endpoint}")


def subscription_from_fields(
    topic: str, name: str, fields: Mapping[str, str], now: int
) -> Subscription:
    """A validated subscription from a Subscribe request body."""
    endpoint = fields.get("Endpoint", "").strip()
    _check_endpoint(endpoint)
    filter_tag = fields.get("FilterTag", "")
    if len(filter_tag) > MAX_TAG_LENGTH:
        raise invalid_argument(f"The length of FilterTag should be at most {MAX_TAG_LENGTH}.")
    strategy = fields.get("NotifyStrategy")
    content_format = fields.get("NotifyContentFormat")
    return Subscription(
        topic=topic,
        name=name,
        endpoint=endpoint,
        notify_strategy=parse_strategy(strategy, NotifyStrategy.BACKOFF_RETRY),
        content_format=_choice(
            ContentFormat, "NotifyContentFormat", content_format, ContentFormat.XML
        ),
        filter_tag=filter_tag,
        created=now,
        modified=now,
    )

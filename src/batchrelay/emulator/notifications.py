"""What a subscriber receives for one publication, per NotifyContentFormat (§3.5).

- XML: ``<Notification>`` with TopicOwner, TopicName, Subscriber, SubscriptionName,
  MessageId, MessageMD5, MessageTag (when tagged), Message, PublishTime (epoch ms) and, on
  HTTP pushes, SigningCertURL as seen in captures of real pushes.
- JSON: the same keys in an object, PublishTime as a string.
- SIMPLIFIED: the published body as is; the wrapper's facts travel in headers.

Every HTTP push carries the ``x-mns-*`` header set of real pushes (``protocols.md`` §3.7):
message id, publish time, subscriber, subscription name, topic name and owner, and the tag
when there is one, all signed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from batchrelay.emulator import xml
from batchrelay.emulator.topics import ContentFormat, Publication, Subscription

_CONTENT_TYPES = {
    ContentFormat.XML: "text/xml;charset=utf-8",
    ContentFormat.JSON: "application/json;charset=utf-8",
    ContentFormat.SIMPLIFIED: "text/plain;charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Payload:
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    """Extra ``x-mns-*`` headers an HTTP push carries (and signs)."""


def _fields(sub: Subscription, pub: Publication, owner: str) -> list[tuple[str, object]]:
    fields: list[tuple[str, object]] = [
        ("TopicOwner", owner),
        ("TopicName", pub.topic),
        ("Subscriber", owner),
        ("SubscriptionName", sub.name),
        ("MessageId", pub.message_id),
        ("MessageMD5", pub.body_md5),
    ]
    if pub.tag:
        fields.append(("MessageTag", pub.tag))
    return [*fields, ("Message", pub.body), ("PublishTime", pub.publish_ms)]


def _headers(sub: Subscription, pub: Publication, owner: str) -> tuple[tuple[str, str], ...]:
    headers = [
        ("x-mns-message-id", pub.message_id),
        ("x-mns-publish-time", str(pub.publish_ms)),
        ("x-mns-subscriber", owner),
        ("x-mns-subscription-name", sub.name),
        ("x-mns-topic-name", pub.topic),
        ("x-mns-topic-owner", owner),
    ]
    if pub.tag:
        headers.append(("x-mns-message-tag", pub.tag))
    return tuple(headers)


def render(sub: Subscription, pub: Publication, owner: str, cert_url: str | None = None) -> Payload:
    """The body (and headers) ``sub`` receives; ``cert_url`` is given for HTTP pushes."""
    content_type = _CONTENT_TYPES[sub.content_format]
    headers = _headers(sub, pub, owner)
    if sub.content_format is ContentFormat.SIMPLIFIED:
        return Payload(pub.body.encode(), content_type, headers)
    fields = _fields(sub, pub, owner)
    if sub.content_format is ContentFormat.JSON:
        wrapper = {name: str(value) for name, value in fields}
        body = json.dumps(wrapper, ensure_ascii=False, separators=(",", ":")).encode()
        return Payload(body, content_type, headers)
    if cert_url:
        fields.append(("SigningCertURL", cert_url))
    return Payload(xml.notification(fields), content_type, headers)
